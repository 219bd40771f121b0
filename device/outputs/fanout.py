"""Where events go: the Output protocol, the fan-out that isolates outputs, JSON lines, console.

One output failing never stops the others or the station; slow outputs run behind a bounded
queue. The policy is written out in ``docs/device.md``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TextIO, runtime_checkable

from ..events import (
    CameraEvent,
    Event,
    ExerciseEvent,
    RepEvent,
    ResetEvent,
    SetupEvent,
    StateEvent,
    StatsEvent,
)
from .resilience import Backoff, DropQueue, FailureLog

log = logging.getLogger(__name__)


@runtime_checkable
class Output(Protocol):
    """Anything that consumes station events. ``handle`` may raise; ``Outputs`` isolates it."""

    name: str

    def handle(self, event: Event) -> None: ...

    def close(self) -> None: ...


OutputFactory = Callable[[], Output]


@dataclass
class OutputStats:
    """Counters of one output, for the periodic stats line and for tests."""

    name: str
    delivered: int = 0  # events handled without raising
    failures: int = 0  # events whose handle() raised (total)
    consecutive_failures: int = 0
    recreated: int = 0  # successful re-creations through the factory
    create_failures: int = 0  # factory calls that raised
    skipped: int = 0  # events that arrived while the output was down (awaiting re-creation)
    dropped: int = 0  # non-rep events dropped because the queue was full (threaded only)
    lost_reps: int = 0  # rep events dropped past rep_cap (threaded only; should stay 0)
    queued: int = 0  # events waiting in the queue now (threaded only)
    alive: bool = True  # an output instance exists (False while awaiting re-creation)


class _Slot:
    """One output, its counters, its failure handling and (optionally) its worker thread."""

    def __init__(
        self,
        owner: Outputs,
        output: Output | None,
        factory: OutputFactory | None,
        name: str,
        threaded: bool,
    ):
        self.owner = owner
        self.output = output
        self.factory = factory
        self.stats = OutputStats(name=name, alive=output is not None)
        self._had_instance = output is not None
        self.threaded = threaded
        self._lock = threading.Lock()  # one event at a time into the output
        self._fail_log = FailureLog(f"output {name}", owner.log_interval, log, logging.WARNING)
        self._retry = Backoff(owner.backoff_min, owner.backoff_max)  # re-creation attempts
        self._queue = DropQueue(owner.queue_size, kept=lambda e: isinstance(e, RepEvent),
                                kept_size=owner.rep_cap, on_lost=self._lost_rep)
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name=f"output-{name}", daemon=True)
            self._thread.start()
        elif output is None:
            self._ensure()

    @property
    def name(self) -> str:
        return self.stats.name

    # ---- delivery -------------------------------------------------------------------------
    def submit(self, event: Event) -> None:
        if self.threaded:
            self._put(event)
        else:
            self.deliver(event)

    def deliver(self, event: Event) -> None:
        with self._lock:
            if not self._ensure():
                self.stats.skipped += 1
                return
            assert self.output is not None
            try:
                self.output.handle(event)
            except Exception as e:
                self._failed(e)
            else:
                self._succeeded()

    def _ensure(self) -> bool:
        """Make sure an output instance exists, creating it through the factory when due."""
        if self.output is not None:
            return True
        if self.factory is None:
            return False
        if not self._retry.due():
            return False
        try:
            out = self.factory()
        except Exception as e:
            self.stats.create_failures += 1
            log.warning("output %s: could not be created (%s: %s); retrying in %.1f s",
                        self.name, type(e).__name__, e, self._retry.failed())
            return False
        self.output = out
        self.stats.alive = True
        if self._had_instance:
            self.stats.recreated += 1
            log.info("output %s: re-created", self.name)
        self._had_instance = True
        return True

    def _failed(self, e: Exception) -> None:
        st = self.stats
        st.failures += 1
        st.consecutive_failures += 1
        self._fail_log(e, first_of_streak=st.consecutive_failures == 1)
        if self.factory is not None and st.consecutive_failures >= self.owner.max_failures:
            # Give up on this instance: close it and let the factory build a fresh one later.
            out, self.output = self.output, None
            st.alive = False
            st.consecutive_failures = 0
            self._close_output(out)
            log.warning("output %s: %d failures in a row; re-creating it in %.1f s",
                        self.name, self.owner.max_failures, self._retry.failed())

    def _succeeded(self) -> None:
        st = self.stats
        st.delivered += 1
        if st.consecutive_failures:
            log.info("output %s recovered after %d failures in a row", self.name, st.consecutive_failures)
            st.consecutive_failures = 0
        self._retry.succeeded()

    def _close_output(self, out: Output | None) -> None:
        if out is None:
            return
        try:
            out.close()
        except Exception:
            log.warning("output %s: close() failed", self.name, exc_info=True)

    # ---- threaded queue -------------------------------------------------------------------
    def _put(self, event: Event) -> None:
        with self._cond:
            q = self._queue
            q.put(event)
            self.stats.dropped, self.stats.lost_reps, self.stats.queued = q.dropped, q.lost, len(q)
            self._cond.notify()

    def _lost_rep(self, waiting: int) -> None:
        log.error("output %s: stalled with %d reps queued; dropping the oldest (%d lost)",
                  self.name, waiting, self._queue.lost + 1)

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as e:  # never a silent dead worker: the station stops on it
            log.exception("output %s: worker thread failed", self.name)
            self.owner.crashed = f"{self.name}: worker thread failed: {type(e).__name__}: {e}"

    def _work(self) -> None:
        if self.output is None:
            with self._lock:
                self._ensure()
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                event = self._queue.popleft()
                self.stats.queued = len(self._queue)
            self.deliver(event)

    def close(self, deadline: float) -> None:
        if self._thread is not None:
            with self._cond:
                self._stopping = True
                self._cond.notify()
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                with self._cond:
                    left = len(self._queue)
                    self._queue.clear()
                log.warning("output %s: still busy at shutdown; %d queued events abandoned", self.name, left)
                # Closing under a stuck handle() is unsafe; the process is exiting anyway.
                return
        with self._lock:
            out, self.output = self.output, None
            self.stats.alive = False
            self._close_output(out)


class Outputs:
    """Fan-out: every event to every output, each isolated from the others' failures."""

    name = "outputs"

    def __init__(
        self,
        outputs: Iterable[Output] = (),
        *,
        max_failures: int = 5,
        backoff: tuple[float, float] = (1.0, 60.0),
        log_interval: float = 30.0,
        queue_size: int = 64,
        rep_cap: int = 10_000,
        close_timeout: float = 2.0,
    ):
        if max_failures < 1:
            raise ValueError(f"max_failures must be >= 1, got {max_failures}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not 0 < backoff[0] <= backoff[1]:
            raise ValueError(f"backoff must be (min, max) with 0 < min <= max, got {backoff}")
        self.max_failures = max_failures
        self.backoff_min, self.backoff_max = float(backoff[0]), float(backoff[1])
        self.log_interval = log_interval
        self.queue_size = queue_size
        self.rep_cap = max(rep_cap, queue_size)
        self.close_timeout = close_timeout
        self._slots: list[_Slot] = []
        self._closed = False
        self.crashed: str | None = None  # set when a threaded output's worker died
        for out in outputs:
            self.add(out)

    def add(
        self,
        output: Output | None = None,
        *,
        factory: OutputFactory | None = None,
        threaded: bool | None = None,
        name: str | None = None,
    ) -> None:
        """Add an output, or a ``factory`` to build it (re-used to re-create it after failures).

        With only a factory, creation is attempted now (a threaded output: on its worker) and,
        if it fails, retried with backoff on later events: a display missing at start does
        not stop the station. ``threaded`` defaults to the output's ``threaded`` attribute.
        """
        if output is None and factory is None:
            raise ValueError("Outputs.add needs an output or a factory")
        if output is not None and not isinstance(output, Output):
            raise TypeError(f"{output!r} is not an Output (needs name, handle(event), close())")
        if name is None:
            name = getattr(output, "name", None) or getattr(factory, "__name__", None) or "output"
        if threaded is None:
            threaded = bool(getattr(output, "threaded", False) or getattr(factory, "threaded", False))
        self._slots.append(_Slot(self, output, factory, name, threaded))

    def handle(self, event: Event) -> None:
        """Give ``event`` to every output. Never raises because of an output."""
        if self._closed:
            return
        for slot in self._slots:
            try:
                slot.submit(event)
            except Exception:  # a bug in the fan-out itself must not stop the station either
                log.exception("output %s: delivery failed", slot.name)

    def stats(self) -> list[OutputStats]:
        return [
            OutputStats(**{**vars(s.stats), "queued": len(s._queue)}) for s in self._slots
        ]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._slots]

    def close(self) -> None:
        """Drain the queues (up to ``close_timeout``) and close every output. Idempotent."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + self.close_timeout
        for slot in self._slots:
            slot.close(deadline)

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _StreamWriter:
    """Writes lines to a stream; a reader that went away (``| head``) closes it quietly.

    On a broken pipe the stream is marked closed, ``on_closed`` is called once (the station
    stops when nothing else listens) and, for stdout, the descriptor is pointed at /dev/null
    so the interpreter's last flush does not print a traceback."""

    def __init__(self, stream: TextIO | None, on_closed: Callable[[], None] | None):
        # Resolved now, not at import, so a redirected sys.stdout (tests, daemons) is honoured.
        self.stream = stream if stream is not None else sys.stdout
        self.on_closed = on_closed
        self.closed = False

    def write(self, line: str) -> None:
        if self.closed:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        self.closed = True
        log.info("%s was closed by its reader; no more events there",
                 "stdout" if self.stream is sys.stdout else "the event stream")
        if self.stream is sys.stdout:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass
        if self.on_closed is not None:
            self.on_closed()

    def flush(self) -> None:
        if self.closed:
            return
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._reader_gone()
        except (OSError, ValueError):  # a closed file at shutdown
            pass


class JsonLinesOutput:
    """One JSON object per line (``event.to_json()``), flushed per event: the machine interface."""

    name = "json"
    threaded = False

    def __init__(self, stream: TextIO | None = None, *, stats: bool = True,
                 on_closed: Callable[[], None] | None = None):
        self.out = _StreamWriter(stream, on_closed)
        self.stream = self.out.stream
        self.stats = stats

    def handle(self, event: Event) -> None:
        if not self.stats and isinstance(event, StatsEvent):
            return
        self.out.write(event.to_json())

    def close(self) -> None:
        self.out.flush()


def _title(exercise: str) -> str:
    return exercise.replace("_", " ") if exercise else "?"


def format_event(event: Event) -> str:
    """A short line a person can read in a terminal or the journal."""
    if isinstance(event, RepEvent):
        head = f"{_title(event.exercise)} rep {event.rep}: "
        counts = f" ({event.good} good / {event.bad} bad)"
        if event.correct is None:
            return head + "no verdict" + counts
        score = f" {event.score:.2f}" if event.score is not None else ""
        if event.correct:
            return head + f"good{score}" + counts
        cues = "; ".join(event.cues) or ", ".join(event.failed) or "form"
        return head + f"FIX{score}: {cues}" + counts
    if isinstance(event, StateEvent):
        prev = f"{event.previous.replace('_', ' ')} -> " if event.previous else ""
        note = f" — {event.message}" if event.message else ""
        return f"state: {prev}{event.state.replace('_', ' ')}{note}"
    if isinstance(event, ExerciseEvent):
        conf = f", {event.confidence:.2f}" if event.confidence is not None else ""
        return f"exercise: {_title(event.exercise)} ({event.source}{conf})"
    if isinstance(event, ResetEvent):
        return f"counts reset ({event.reason or 'unknown reason'})"
    if isinstance(event, CameraEvent):
        if event.state == "lost":
            return f"camera lost: {event.reason or 'no frames'} (reconnecting)"
        return f"camera back: {event.reason} ({event.reconnects} reconnect{'s' if event.reconnects != 1 else ''})"
    if isinstance(event, SetupEvent):
        return (f"setup page open at {event.url} for {event.closes_in / 60:.0f} min" if event.open
                else f"setup page closed ({event.reason or 'closed'})")
    if isinstance(event, StatsEvent):
        return (
            f"stats: {event.fps:.1f} fps (camera {event.camera_fps:.1f}), {event.dropped} dropped, "
            f"pose {event.pose_ms:.0f} ms, rss {event.rss_mb:.0f} MB, {event.frames} frames, "
            f"{event.good} good / {event.bad} bad"
        )
    return event.to_json()


class ConsoleOutput:
    """Readable lines for humans: to ``stream`` if given, else the log (stderr / journald).

    Stats events are skipped by default because the station logs its own periodic stats line.
    """

    name = "console"
    threaded = False

    def __init__(self, stream: TextIO | None = None, *, stats: bool = False, logger: logging.Logger | None = None,
                 level: int = logging.INFO, on_closed: Callable[[], None] | None = None):
        self.stream = stream
        self.out = _StreamWriter(stream, on_closed) if stream is not None else None
        self.stats = stats
        self.level = level
        self.logger = logger or logging.getLogger("formcheck.events")

    def handle(self, event: Event) -> None:
        if not self.stats and isinstance(event, StatsEvent):
            return
        line = format_event(event)
        if self.out is None:
            self.logger.log(self.level, "%s", line)
        else:
            self.out.write(line)

    def close(self) -> None:
        pass
