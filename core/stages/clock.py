"""Run bookkeeping shared by the stages: wall time per stage, progress reports and cancellation."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from screenalytics.errors import Cancelled
from screenalytics.model.names import Stage

Progress = Callable[[Stage, float, float], None]  # (stage running, done, total): seconds of video, or 0/1 per step


class CancelToken(Protocol):
    """Anything with ``is_set()``, such as ``threading.Event``: set it to stop a run."""

    def is_set(self) -> bool: ...


class Timer:
    """Accumulates wall time per stage (for run.json and the benchmarks), reports progress and
    stops a cancelled run between steps."""

    def __init__(self, cancel: CancelToken | None = None, progress: Progress | None = None) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.cancel = cancel
        self.progress = progress

    def report(self, stage: Stage, done: float, total: float) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)
        self._stop_if_cancelled(stage)

    def check(self, stage: Stage) -> None:
        """Stop here if the run was cancelled (for waits that are not a stage's own work)."""
        self._stop_if_cancelled(stage)

    def _stop_if_cancelled(self, stage: Stage) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"run cancelled during {stage.value}")

    def add(self, stage: Stage, since: float) -> float:
        """Charge the time since ``since`` to ``stage``; returns now. Stops a cancelled run here."""
        now = time.perf_counter()
        self.totals[stage.value] += now - since
        self._stop_if_cancelled(stage)
        return now
