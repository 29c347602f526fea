"""Runtimes by (backend, policy type): `load_runtime` picks the one for a checkpoint's `type`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from lerobot_ros_policy.checkpoint import PolicyCheckpoint, UnsupportedPolicyError, load_checkpoint
from lerobot_ros_policy.runtimes.base import PolicyRuntime

ANY_POLICY = "*"
NATIVE = "native"
LEROBOT = "lerobot"

_RUNTIMES: dict[tuple[str, str], type[PolicyRuntime]] = {}

R = TypeVar("R", bound=type[PolicyRuntime])


def register_runtime(cls: R) -> R:
    """Class decorator: make `cls` the runtime for `(cls.backend, cls.policy_type)`; policy type
    `"*"` serves every type the backend has no specific runtime for (the LeRobot adapter)."""
    key = (cls.backend, cls.policy_type)
    if key in _RUNTIMES and _RUNTIMES[key] is not cls:
        raise ValueError(f"runtime for backend '{key[0]}', policy '{key[1]}' already registered: {_RUNTIMES[key]}")
    _RUNTIMES[key] = cls
    return cls


def available_runtimes() -> dict[str, list[str]]:
    """Backend → policy types it runs (`"*"` = any)."""
    result: dict[str, list[str]] = {}
    for backend, policy_type in sorted(_RUNTIMES):
        result.setdefault(backend, []).append(policy_type)
    return result


def runtime_class(policy_type: str, backend: str = NATIVE) -> type[PolicyRuntime]:
    """The runtime class for a policy type, or `UnsupportedPolicyError` naming what exists."""
    cls = _RUNTIMES.get((backend, policy_type)) or _RUNTIMES.get((backend, ANY_POLICY))
    if cls is None:
        supported = ", ".join(f"{b}: {t}" for b, t in sorted(_RUNTIMES)) or "none"
        raise UnsupportedPolicyError(f"no '{backend}' runtime for policy type '{policy_type}' (available: {supported})")
    return cls


def load_runtime(
    source: PolicyCheckpoint | str | Path,
    device: str = "cpu",
    *,
    backend: str = NATIVE,
    rename_map: Mapping[str, str] | None = None,
    revision: str | None = None,
    local_files_only: bool = True,
    **options: Any,
) -> PolicyRuntime:
    """Load a checkpoint (directory, `pretrained_model/` parent or cached Hub repo id) into the runtime
    `backend` offers for its policy type; `options` go to that runtime's constructor."""
    checkpoint = (
        source
        if isinstance(source, PolicyCheckpoint)
        else load_checkpoint(source, revision=revision, local_files_only=local_files_only)
    )
    cls = runtime_class(checkpoint.config.type, backend)
    return cls.from_checkpoint(checkpoint, device, rename_map=rename_map, **options)
