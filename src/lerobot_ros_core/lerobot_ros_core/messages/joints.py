"""Joint names of incoming messages (JointState, joint commands, trajectories)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def duplicate_joints(names: Sequence[str], what: str) -> str | None:
    """Why `names` is ambiguous (a joint named more than once: which value is meant?), or None.

    Every reader of joint names by name (the arm controller, the feature converters) rejects such
    a message rather than letting the last value win.
    """
    repeated = [
        f"'{name}' is named {'twice' if count == 2 else f'{count} times'}"
        for name, count in Counter(names).items()
        if count > 1
    ]
    return f"joint {', joint '.join(repeated)} in the {what}" if repeated else None
