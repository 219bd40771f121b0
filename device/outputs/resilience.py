"""The mechanisms that keep the station going when a part fails, written once: exponential
backoff, rate-limited failure logging and the bounded event queue that drops the oldest
non-rep item first."""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)


class Backoff:
    """Retry delays that start at ``low`` seconds, double after each failure up to ``high``,
    and start again at ``low`` after a success."""

    def __init__(self, low: float, high: float):
        if not 0 < low <= high:
            raise ValueError(f"backoff must be (low, high) with 0 < low <= high, got {(low, high)}")
        self.low, self.high = float(low), float(high)
        self.delay = self.low
        self.next_at = 0.0  # time.monotonic() from which the next attempt is due

    def due(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.next_at

    def failed(self, now: float | None = None) -> float:
        """Record a failure: returns the wait before the next attempt."""
        wait = self.delay
        self.next_at = (time.monotonic() if now is None else now) + wait
        self.delay = min(self.delay * 2, self.high)
        return wait

    def succeeded(self) -> None:
        self.delay = self.low


class FailureLog:
    """Logs a failing part's first failure (of a streak) with its traceback, then at most one
    summary line per ``period`` seconds, so a part failing on every frame never floods the log."""

    def __init__(self, what: str, period: float = 30.0, logger: logging.Logger | None = None,
                 level: int = logging.ERROR):
        self.what = what
        self.period = period
        self.logger = logger or log
        self.level = level
        self.count = 0  # failures in all
        self._unlogged = 0
        self._last = -math.inf

    def __call__(self, exc: BaseException, first_of_streak: bool | None = None) -> None:
        """Count a failure; ``first_of_streak`` (default: the very first failure) logs the
        traceback when the period allows."""
        self.count += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._last < self.period:
            return
        first = self.count == 1 if first_of_streak is None else first_of_streak
        if first:
            self.logger.log(self.level, "%s failed; the station goes on", self.what, exc_info=exc)
        else:
            self.logger.log(self.level, "%s: still failing, %d more failures (%d in all), latest %s: %s",
                            self.what, self._unlogged, self.count, type(exc).__name__, exc)
        self._last, self._unlogged = now, 0

    def recovered(self) -> None:
        """The part works again: its next failure starts a new streak and is logged at once."""
        self._last, self._unlogged = -math.inf, 0


class DropQueue(deque):
    """A bounded event queue where the newest item always gets in.

    Items ``kept`` says yes to (reps) are never dropped for other items; past ``kept_size`` of
    them the oldest goes and is counted in ``lost``. The others are superseded by newer ones:
    past ``size`` of them the oldest goes, counted in ``dropped``. With ``total``, the queue as
    a whole holds at most that many: the oldest droppable item goes first, a droppable newcomer
    to a queue full of kept items is refused, and only then does the oldest kept item go.
    """

    def __init__(self, size: int, kept: Callable[[Any], bool], kept_size: int | None = None,
                 total: int | None = None, items: Iterable = (), on_lost: Callable[[int], None] | None = None):
        super().__init__(items)
        self.size = size
        self.kept = kept
        self.kept_size = kept_size
        self.total = total
        self.on_lost = on_lost  # called with the kept items waiting when one is lost
        self.dropped = 0
        self.lost = 0

    def put(self, item) -> bool:
        """Add ``item``; False when it was refused (see the class doc)."""
        is_kept = self.kept(item)
        same = [i for i, x in enumerate(self) if bool(self.kept(x)) == bool(is_kept)]
        if not is_kept and len(same) >= self.size:
            del self[same[0]]
            self.dropped += 1
        elif is_kept and self.kept_size is not None and len(same) >= self.kept_size:
            self._lose(same[0], len(same))
        if self.total is not None and len(self) >= self.total:
            victim = next((i for i, x in enumerate(self) if not self.kept(x)), None)
            if victim is not None:
                del self[victim]
                self.dropped += 1
            elif not is_kept:
                self.dropped += 1
                return False
            else:
                self._lose(0, len(self))
        self.append(item)
        return True

    def remove_first(self, match: Callable[[Any], bool]) -> bool:
        """Remove the oldest item ``match`` says yes to (a snapshot a newer one replaces)."""
        for i, x in enumerate(self):
            if match(x):
                del self[i]
                return True
        return False

    def _lose(self, index: int, waiting: int) -> None:
        del self[index]
        self.lost += 1
        if self.on_lost is not None:
            self.on_lost(waiting)
