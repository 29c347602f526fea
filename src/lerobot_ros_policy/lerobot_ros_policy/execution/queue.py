"""The action queue: actions on an absolute control-step grid, replaced, ensembled or appended chunk by chunk."""

from __future__ import annotations

import numpy as np

from lerobot_ros_policy.execution.ensembling import TemporalEnsembler


class ActionQueue:
    """Actions for consecutive control steps `start_step, start_step + 1, ...`.

    A chunk predicted from the observation of step s has its row k for step s + k. When it
    arrives, the steps before `first_pending` were executed meanwhile (from the previous chunk);
    those rows are dropped (the delay trim) and the rest replaces, or is ensembled with, what the
    queue holds from `first_pending` on. The queue's rows before `first_pending` stay until the
    executor drops them as executed. Appending instead keeps every queued row and adds the whole
    chunk after them.
    """

    def __init__(self, action_dim: int, ensembler: TemporalEnsembler | None = None) -> None:
        self.action_dim = action_dim
        self.ensembler = ensembler
        self.clear()

    def clear(self) -> None:
        self.start_step = 0
        self._actions = np.empty((0, self.action_dim))
        self._counts = np.empty(0, dtype=np.int64)

    @property
    def end_step(self) -> int:
        """One past the last step the queue holds an action for."""
        return self.start_step + len(self._actions)

    def depth(self, from_step: int) -> int:
        """Actions left for steps ≥ `from_step`."""
        return max(0, self.end_step - max(from_step, self.start_step))

    def action_at(self, step: int) -> np.ndarray | None:
        if not self.start_step <= step < self.end_step:
            return None
        return self._actions[step - self.start_step]

    def remaining(self, from_step: int) -> np.ndarray:
        """The actions for steps ≥ `from_step` (a view, [depth, action_dim])."""
        return self._actions[max(0, from_step - self.start_step) :]

    def drop_before(self, step: int) -> None:
        """Forget the actions of executed steps (< `step`)."""
        cut = min(max(0, step - self.start_step), len(self._actions))
        if cut:
            self._actions = self._actions[cut:]
            self._counts = self._counts[cut:]
        self.start_step = max(self.start_step, step) if len(self._actions) else step

    def insert_chunk(self, chunk: np.ndarray, chunk_start_step: int, first_pending: int) -> int:
        """Put `chunk` (row 0 for `chunk_start_step`) in the queue from `first_pending` on.

        Returns the number of rows trimmed from the head of the chunk (the steps executed while it
        was computed). The caller checks that some rows remain.
        """
        if chunk.ndim != 2 or chunk.shape[1] != self.action_dim:
            raise ValueError(f"chunk of shape {chunk.shape} does not have {self.action_dim} action columns")
        trimmed = max(0, first_pending - chunk_start_step)
        if trimmed >= len(chunk):
            raise ValueError(f"all {len(chunk)} rows of the chunk lie in the past ({trimmed} steps elapsed)")
        fresh = np.asarray(chunk[trimmed:], dtype=float)
        start = chunk_start_step + trimmed
        offset = start - self.start_step
        if not 0 <= offset <= len(self._actions):
            # Nothing contiguous with the new rows: they replace the queue.
            self.start_step, offset = start, 0
            self._actions, self._counts = self._actions[:0], self._counts[:0]
        # Rows before `start` (the step being executed) stay; from `start` on the chunk takes over.
        head, head_counts = self._actions[:offset], self._counts[:offset]
        old, old_counts = self._actions[offset:], self._counts[offset:]
        if self.ensembler is not None and len(old):
            overlap = min(len(old), len(fresh))
            tail, tail_counts = self.ensembler.merge(old[:overlap], old_counts[:overlap], fresh)
        else:
            tail, tail_counts = fresh, np.ones(len(fresh), dtype=np.int64)
        self._actions = np.concatenate([head, tail])
        self._counts = np.concatenate([head_counts, tail_counts])
        return trimmed

    def append_chunk(self, chunk: np.ndarray, first_pending: int) -> int:
        """Put the whole `chunk` after the last queued step, or from `first_pending` on when nothing
        is queued for that step or later. Nothing is trimmed: returns 0."""
        if chunk.ndim != 2 or chunk.shape[1] != self.action_dim:
            raise ValueError(f"chunk of shape {chunk.shape} does not have {self.action_dim} action columns")
        if self.end_step < first_pending:  # ran dry: the chunk starts at the next step
            self._actions, self._counts = self._actions[:0], self._counts[:0]
            self.start_step = first_pending
        self._actions = np.concatenate([self._actions, np.asarray(chunk, dtype=float)])
        self._counts = np.concatenate([self._counts, np.ones(len(chunk), dtype=np.int64)])
        return 0
