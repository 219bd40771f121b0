"""The fan-out: every output gets every event; one failing, slow or dead never costs the others."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

import pytest

from formcheck.device.events import (
    TRACKING,
    ExerciseEvent,
    RepEvent,
    ResetEvent,
    StateEvent,
    StatsEvent,
    event_from_dict,
)
from formcheck.device.outputs.fanout import ConsoleOutput, JsonLinesOutput, Output, Outputs, format_event


class Recorder:
    def __init__(self, name="rec"):
        self.name = name
        self.events = []
        self.closed = False

    def handle(self, event):
        self.events.append(event)

    def close(self):
        self.closed = True


class Flaky(Recorder):
    """Raises for the first ``fail`` events, then works."""

    def __init__(self, fail, name="flaky"):
        super().__init__(name)
        self.fail = fail
        self.calls = 0

    def handle(self, event):
        self.calls += 1
        if self.calls <= self.fail:
            raise OSError(f"bus error #{self.calls}")
        super().handle(event)


class Broken(Recorder):
    def handle(self, event):
        raise OSError("I2C remote I/O error")


class Slow(Recorder):
    """Blocks in handle() until released: a stuck I2C bus or broker."""

    threaded = True

    def __init__(self, name="slow"):
        super().__init__(name)
        self.gate = threading.Event()

    def handle(self, event):
        self.gate.wait(10)
        super().handle(event)


def reps(n, start=1):
    return [RepEvent(t=float(i), exercise="squat", rep=i, correct=i % 2 == 0, good=i // 2, bad=(i + 1) // 2)
            for i in range(start, start + n)]


def mixed_stream(t0=0.0):
    yield StateEvent(t=t0, state=TRACKING, previous="no_person")
    yield ExerciseEvent(t=t0 + 0.1, exercise="squat", confidence=0.9)
    for r in reps(5):
        r.t += t0
        yield r
        yield StatsEvent(t=r.t + 0.5, fps=9.5, frames=int(r.t * 10), good=r.good, bad=r.bad)
    yield ResetEvent(t=t0 + 9.0, reason="button")


def test_output_protocol_is_satisfied_by_every_builtin():
    assert isinstance(JsonLinesOutput(io.StringIO()), Output)
    assert isinstance(ConsoleOutput(io.StringIO()), Output)
    with pytest.raises(TypeError, match="not an Output"):
        Outputs([object()])


def test_a_raising_output_never_stops_the_others_nor_raises(caplog):
    good_before, good_after = Recorder("a"), Recorder("b")
    events = list(mixed_stream())
    with caplog.at_level(logging.WARNING, logger="formcheck.device.outputs.fanout"):
        outs = Outputs([good_before, Broken("broken"), good_after], log_interval=3600)
        for e in events:
            outs.handle(e)  # must not raise
        outs.close()
    assert good_before.events == events
    assert good_after.events == events
    st = {s.name: s for s in outs.stats()}
    assert st["broken"].failures == len(events)
    assert st["broken"].delivered == 0
    assert st["a"].delivered == st["b"].delivered == len(events)
    # Rate-limited: one report with the traceback, not one per event.
    reports = [r for r in caplog.records if "broken" in r.getMessage()]
    assert len(reports) == 1 and reports[0].exc_info is not None
    assert good_before.closed and good_after.closed


def test_failing_output_is_retried_and_recovers():
    flaky = Flaky(fail=3)
    outs = Outputs([flaky], log_interval=3600)
    events = reps(6)
    for e in events:
        outs.handle(e)
    (st,) = outs.stats()
    assert st.failures == 3 and st.delivered == 3 and st.consecutive_failures == 0
    assert flaky.events == events[3:]  # called again on each later event


def test_dead_output_is_recreated_through_its_factory_with_backoff():
    made = []

    def factory():
        out = Broken("display") if len(made) < 2 else Recorder("display")
        made.append(out)
        return out

    outs = Outputs(max_failures=2, backoff=(0.05, 0.2), log_interval=3600)
    outs.add(factory=factory)
    events = reps(20)
    delivered_from = None
    for i, e in enumerate(events):
        outs.handle(e)
        if delivered_from is None and made and isinstance(made[-1], Recorder) and made[-1].events:
            delivered_from = i
        time.sleep(0.02)
    (st,) = outs.stats()
    assert len(made) == 3, "two broken instances, then a working one"
    assert made[0].closed and made[1].closed  # a given-up instance is closed before replacing it
    assert st.recreated == 2 and st.failures == 4
    assert st.skipped > 0  # events during the backoff were skipped, not queued forever
    assert made[2].events == events[delivered_from:]
    assert st.alive


def test_factory_that_cannot_create_at_start_is_retried_later():
    attempts = []

    def factory():
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise FileNotFoundError("/dev/i2c-1")
        return Recorder("display")

    outs = Outputs(backoff=(0.03, 0.03), log_interval=3600)
    outs.add(factory=factory)  # a missing display at start: no exception here
    for e in reps(40):
        outs.handle(e)
        time.sleep(0.005)
    (st,) = outs.stats()
    assert len(attempts) == 3 and st.create_failures == 2 and st.alive
    assert st.delivered > 0
    # Backoff honoured: attempts are spaced, not one per event.
    assert attempts[1] - attempts[0] >= 0.03 and attempts[2] - attempts[1] >= 0.03


def test_slow_threaded_output_never_blocks_the_caller_and_loses_no_rep():
    slow, fast = Slow(), Recorder("fast")
    outs = Outputs([slow, fast], queue_size=4, close_timeout=5)
    events = [e for k in range(3) for e in mixed_stream(t0=10.0 * k)]
    t0 = time.perf_counter()
    for e in events:
        outs.handle(e)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0, "the caller waited on the stalled output (it blocks 10 s)"
    assert fast.events == events
    st = {s.name: s for s in outs.stats()}
    assert st["slow"].dropped > 0  # the queue was full: old non-rep events went
    slow.gate.set()
    outs.close()
    got_reps = [e for e in slow.events if isinstance(e, RepEvent)]
    assert got_reps == [e for e in events if isinstance(e, RepEvent)], "a rep was dropped"
    # The newest event always gets through (the display must end on the latest state/reset).
    assert slow.events[-1] == events[-1]
    times = [e.t for e in slow.events]
    assert times == sorted(times)  # order kept
    assert st["slow"].lost_reps == 0 and slow.closed


def test_rep_cap_bounds_a_dead_outputs_queue():
    slow = Slow()
    outs = Outputs([slow], queue_size=2, rep_cap=5, close_timeout=0.2)
    for e in reps(8):
        outs.handle(e)
    (st,) = outs.stats()
    # One rep may already be inside handle(); the queue holds at most rep_cap.
    assert st.queued <= 5 and st.lost_reps >= 2
    slow.gate.set()
    outs.close()


def test_json_lines_parse_back_to_the_same_events():
    buf = io.StringIO()
    events = list(mixed_stream())
    with Outputs([JsonLinesOutput(buf), Broken("broken")], log_interval=3600) as outs:
        for e in events:
            outs.handle(e)
    lines = buf.getvalue().splitlines()
    assert len(lines) == len(events)
    assert [event_from_dict(json.loads(line)) for line in lines] == events


def test_json_lines_are_flushed_per_event():
    class Pipe(io.StringIO):
        flushes = 0

        def flush(self):
            Pipe.flushes += 1

    out = JsonLinesOutput(Pipe())
    for e in reps(3):
        out.handle(e)
    assert Pipe.flushes == 3


def test_console_lines_say_what_happened():
    buf = io.StringIO()
    out = ConsoleOutput(buf)
    bad = RepEvent(t=1, exercise="side_lunge", rep=4, correct=False, score=0.12, cues=["keep your back neutral"],
                   failed=["back_neutral"], good=3, bad=1)
    for e in (StateEvent(t=0, state=TRACKING, previous="no_person"), bad, StatsEvent(t=2, fps=9),
              ResetEvent(t=3, reason="button")):
        out.handle(e)
    lines = buf.getvalue().splitlines()
    assert lines == [
        "state: no person -> tracking",
        "side lunge rep 4: FIX 0.12: keep your back neutral (3 good / 1 bad)",
        "counts reset (button)",
    ]  # stats left to the station's own periodic line
    assert "good" in format_event(RepEvent(t=0, exercise="squat", rep=1, correct=True, good=1))
