"""Inference in a background thread, one request in flight.

The node's executor thread keeps its timing while the model runs: it submits a request when the
queue asks for one, and the worker hands the chunk back through a callback (which the node turns
into a wake-up of its executor, e.g. a guard condition).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class InferenceResult:
    """A finished request: the chunk or the error, and the time the computation took."""

    request: Any
    chunk: Any = None
    error: str | None = None
    latency_s: float = 0.0


class InferenceWorker:
    """A daemon thread running `compute(payload)` for one request at a time."""

    def __init__(self, compute: Callable[[Any], Any], on_done: Callable[[InferenceResult], None]) -> None:
        self._compute = compute
        self._on_done = on_done
        self._condition = threading.Condition()
        self._pending: tuple[Any, Any] | None = None
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="policy-inference", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        with self._condition:
            return self._busy

    def submit(self, request: Any, payload: Any) -> bool:
        """Start computing `payload` for `request`; False (and nothing done) while one is in flight."""
        with self._condition:
            if self._busy or self._closed:
                return False
            self._busy = True
            self._pending = (request, payload)
            self._condition.notify()
            return True

    def close(self, timeout_s: float = 5.0) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._pending is None and not self._closed:
                    self._condition.wait()
                if self._closed:
                    return
                request, payload = self._pending
                self._pending = None
            started = time.monotonic()
            try:
                result = InferenceResult(request, chunk=self._compute(payload))
            except Exception as error:  # the node reports it and holds; the thread lives on
                detail = traceback.format_exception_only(type(error), error)[-1].strip()
                result = InferenceResult(request, error=detail)
            result.latency_s = time.monotonic() - started
            with self._condition:
                self._busy = False
            self._on_done(result)
