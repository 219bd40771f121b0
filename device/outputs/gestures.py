"""Button gestures: a single click and a double click told apart on one button.

The GPIO output reports clicks (short presses); this turns them into ``single()`` or
``double()`` calls: a click followed by another within ``double_click_s`` is a double click,
a lone click fires ``single`` once that window has passed. Callbacks run on a timer thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# Two clicks closer than this are one double click. 0.4 s is the usual desktop default
# (0.5 s on many systems): quick enough that a single click still feels immediate.
DOUBLE_CLICK_S = 0.4


class ClickGestures:
    def __init__(self, single: Callable[[], None], double: Callable[[], None],
                 double_click_s: float = DOUBLE_CLICK_S, clock: Callable[[], float] = time.monotonic):
        if not 0.05 <= double_click_s <= 2.0:
            raise ValueError(f"double_click_s must be within 0.05..2 s, got {double_click_s!r}")
        self.single, self.double = single, double
        self.double_click_s = double_click_s
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: threading.Timer | None = None
        self._first: float | None = None

    def click(self) -> None:
        """One short press (call it from the button's callback)."""
        with self._lock:
            now = self.clock()
            if self._pending is not None and self._first is not None and now - self._first <= self.double_click_s:
                self._pending.cancel()
                self._pending, self._first = None, None
                fire = self.double
            else:
                if self._pending is not None:  # a late second click: the first stands on its own
                    self._pending.cancel()
                    self._fire(self.single)
                self._first = now
                self._pending = threading.Timer(self.double_click_s, self._timeout)
                self._pending.daemon = True
                self._pending.start()
                return
        self._fire(fire)

    def _timeout(self) -> None:
        with self._lock:
            if self._pending is None:
                return
            self._pending, self._first = None, None
        self._fire(self.single)

    @staticmethod
    def _fire(fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("button gesture callback failed")

    def close(self) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
