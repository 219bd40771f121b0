"""Spoken cues: real espeak-ng renders checked with sox, order and pacing through a fake sink."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time

import pytest
from helpers import wait_until

from formcheck.device.app import cli as S
from formcheck.device.events import ExerciseEvent, RepEvent, ResetEvent, event_from_dict
from formcheck.device.outputs.fanout import Outputs
from formcheck.device.outputs.speech import (
    CommandSink,
    FakeSink,
    Renderer,
    SpeechOutput,
    SpeechSettings,
    SpeechUnavailable,
    phrases_for,
)

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and shutil.which("espeak") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)")
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed (apt-get install sox)")


def rep(n: int, t: float, cues=(), correct=None, exercise="squat") -> RepEvent:
    if correct is None:
        correct = not cues
    return RepEvent(t=t, exercise=exercise, rep=n, correct=correct, cues=list(cues),
                    failed=[f"c{i}" for i in range(len(cues))])


class _NullRenderer:
    """Stands in for the engine where only order and pacing are under test (no espeak needed)."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls: list[str] = []

    def render(self, text):
        if self.delay:
            time.sleep(self.delay)
        self.calls.append(text)
        return text

    def close(self):
        pass


def sox_stats(path) -> dict[str, float]:
    """``sox FILE -n stat`` as a dict (it prints to stderr)."""
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    stats = {}
    for line in out.splitlines():
        k, _, v = line.partition(":")
        try:
            stats[k.strip()] = float(v.strip())
        except ValueError:
            pass
    return stats


def sox_duration(path) -> float:
    return float(subprocess.run(["sox", "--i", "-D", str(path)], capture_output=True, text=True,
                                check=True).stdout)


def is_speech(path, text: str) -> bool:
    """Speech of a plausible length for ``text``: about 2-6 words a second at 165 wpm with the
    engine's pauses, and loud enough to be voiced (silence has RMS ~0)."""
    d = sox_duration(path)
    words = len(text.split())
    st = sox_stats(path)
    return 0.25 + 0.12 * words <= d <= 1.0 + 0.8 * words and st["RMS     amplitude"] > 0.02


@pytest.fixture(scope="module")
def demo_events(tmp_path_factory) -> list:
    """Every event of the built-in demo, through the real station pipeline (recorded poses)."""
    import contextlib
    import io

    cfg = tmp_path_factory.mktemp("cfg") / "c.toml"
    cfg.write_text("[gpio]\nenabled = false\n[display]\nenabled = false\n")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert S.main(["--demo", "--fast", "--config", str(cfg)]) == 0
    return [event_from_dict(json.loads(x)) for x in buf.getvalue().splitlines() if x.startswith("{")]


@pytest.fixture(scope="module")
def demo_faulty_reps(demo_events) -> list[RepEvent]:
    bad = [e for e in demo_events if isinstance(e, RepEvent) and e.correct is False]
    assert bad, "the demo has faulty reps"
    return bad


@needs_espeak
@needs_sox
def test_the_demo_through_the_speech_output_says_its_faulty_cues_in_order(demo_events, demo_faulty_reps,
                                                                        tmp_path):
    """All the demo's events (states, exercises, every rep) into the output: what reaches the
    speaker is the first cue of each faulty rep, in the order of the reps (repeats within
    repeat_s left out), each a real rendering of speech."""
    sink = FakeSink()
    out = SpeechOutput(SpeechSettings(cache_dir=str(tmp_path), stale_s=60.0, queue_size=32), sink=sink)
    try:
        for e in demo_events:
            if isinstance(e, ExerciseEvent | ResetEvent):
                # seconds pass between a rep and the next exercise in the demo's own time; here
                # the events come at once, so let the pending phrase start first
                assert wait_until(out.idle, 10)
            out.handle(e)
        expected = []
        last: dict[str, float] = {}
        for e in demo_faulty_reps:  # the output's own repeat rule, in rep time
            cue = e.cues[0]
            if cue not in last or e.t - last[cue] >= out.settings.repeat_s:
                expected.append(cue)
                last[cue] = e.t
        assert wait_until(lambda: len(sink.played) >= len(expected), 30), sink.texts
        time.sleep(0.2)
        assert sink.texts == expected
        for text, wav in sink.played:
            assert is_speech(wav, text), (text, sox_duration(wav))
    finally:
        out.close()


@needs_espeak
@needs_sox
def test_the_demos_faulty_cues_render_to_speech_of_a_plausible_length(demo_faulty_reps, tmp_path):
    r = Renderer(SpeechSettings(), cache_dir=tmp_path / "cache")
    texts = [c for e in demo_faulty_reps for c in e.cues]
    assert texts
    for text in [*texts, "12"]:
        path = r.render(text)
        assert path.is_file() and is_speech(path, text), (text, sox_duration(path), sox_stats(path))
    # A longer phrase is a longer sound.
    long = r.render("keep your knees in line with your toes and your heels down")
    assert sox_duration(long) > 2 * sox_duration(r.render("12"))
    # The checker is not fooled by silence of a speech-like length.
    silence = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", str(silence), "trim", "0", "1.0"], check=True)
    assert not is_speech(silence, "go deeper")


@needs_espeak
def test_each_phrase_is_rendered_once_and_the_cache_survives_a_restart(tmp_path):
    s = SpeechSettings()
    r = Renderer(s, cache_dir=tmp_path)
    a = r.render("go deeper")
    assert r.render("go deeper") == a and r.rendered == 1
    r.render("knees out")
    assert r.rendered == 2
    r2 = Renderer(s, cache_dir=tmp_path)
    assert r2.render("go deeper") == a and r2.rendered == 0
    # Another voice setting is another file.
    r3 = Renderer(SpeechSettings(rate=220), cache_dir=tmp_path)
    assert r3.render("go deeper") != a


@needs_espeak
def test_an_unknown_voice_is_a_clear_error(tmp_path):
    with pytest.raises(SpeechUnavailable, match=r"speech\.voice"):
        Renderer(SpeechSettings(voice="qqq"), cache_dir=tmp_path)


def test_a_missing_player_is_a_clear_error():
    with pytest.raises(SpeechUnavailable, match="not found"):
        CommandSink("no-such-player-xyz -q")


def test_settings_are_validated():
    with pytest.raises(ValueError, match=r"speech\.say"):
        SpeechSettings(say="everything")
    with pytest.raises(ValueError, match=r"speech\.volume"):
        SpeechSettings(volume=3)


def test_what_is_spoken():
    bad = rep(3, 10.0, ["go deeper", "knees out"])
    good = rep(4, 13.0)
    assert phrases_for(bad, SpeechSettings(say="cues")) == ["go deeper"]
    assert phrases_for(bad, SpeechSettings(say="cues", max_cues=2)) == ["go deeper", "knees out"]
    assert phrases_for(bad, SpeechSettings(say="count")) == ["3"]
    assert phrases_for(bad, SpeechSettings(say="both")) == ["3", "go deeper"]
    assert phrases_for(good, SpeechSettings(say="cues")) == []
    assert phrases_for(good, SpeechSettings(say="both")) == ["4"]
    # the judge's per-condition records, when an event carries them instead of cues
    ev = rep(5, 16.0, correct=False)
    ev.conditions = [{"key": "rom", "judged": True, "holds": False, "cue": "go deeper"},
                     {"key": "knees", "judged": False, "holds": None, "cue": "knees out"}]
    assert phrases_for(ev, SpeechSettings()) == ["go deeper"]


@needs_espeak
def test_cues_of_a_set_are_said_in_order_without_quick_repeats(tmp_path):
    sink = FakeSink()
    out = SpeechOutput(SpeechSettings(say="both", repeat_s=8.0, cache_dir=str(tmp_path)), sink=sink)
    try:
        events = [rep(1, 3.0), rep(2, 6.0, ["go deeper"]), rep(3, 9.0, ["go deeper"]),
                  rep(4, 12.0, ["knees out"]), rep(5, 15.0, ["go deeper"])]
        for e in events:
            out.handle(e)
            assert wait_until(lambda: out.idle() and len(sink.played) >= out.spoken and
                              out.spoken + out.dropped_stale >= 1, 10)
        assert wait_until(lambda: len(sink.played) == 8, 20), sink.texts
        # rep 3's "go deeper" is within 8 s of rep 2's; rep 5's (9 s later) is said again
        assert sink.texts == ["1", "2", "go deeper", "3", "4", "knees out", "5", "go deeper"]
        assert out.suppressed == 1
        assert all(p.suffix == ".wav" and p.is_file() for _, p in sink.played)
    finally:
        out.close()
    assert sink.closed


def test_quiet_mode_says_nothing():
    sink = FakeSink()
    out = SpeechOutput(SpeechSettings(quiet=True, say="both"), sink=sink, renderer=_NullRenderer())
    try:
        out.handle(rep(1, 1.0, ["go deeper"]))
        time.sleep(0.2)
        assert sink.played == []
    finally:
        out.close()


def test_handle_never_blocks_on_a_slow_engine_or_speaker_and_stale_cues_are_dropped():
    sink = FakeSink(delay=0.5)
    renderer = _NullRenderer(delay=0.2)
    out = SpeechOutput(SpeechSettings(say="both", repeat_s=0, stale_s=3.0, queue_size=3),
                       sink=sink, renderer=renderer)
    try:
        worst = 0.0
        for i in range(1, 31):  # 30 reps with cues arriving far faster than they can be said
            t0 = time.perf_counter()
            out.handle(rep(i, float(i), [f"cue {i}"]))
            worst = max(worst, time.perf_counter() - t0)
        assert worst < 0.01
        assert out.dropped_full > 0  # the queue stayed bounded
        # what is said ends with the newest rep: old phrases gave way
        assert wait_until(lambda: sink.texts[-1:] == ["cue 30"], 10), sink.texts
        said = sink.texts
        nums = [int(x) for x in said if x.isdigit()]
        assert nums == sorted(nums) and len(said) < 20
    finally:
        out.close()


def test_phrases_wait_longer_than_stale_s_are_dropped():
    sink = FakeSink(delay=0.6)
    out = SpeechOutput(SpeechSettings(say="count", stale_s=0.3, queue_size=5), sink=sink,
                       renderer=_NullRenderer())
    try:
        for i in range(1, 4):
            out.handle(rep(i, float(i)))
        assert wait_until(lambda: out.idle() and len(sink.played) >= 1, 5)
        time.sleep(0.8)
        assert sink.texts == ["1"] and out.dropped_stale == 2
    finally:
        out.close()


def test_an_exercise_change_drops_pending_cues():
    gate = threading.Event()

    class Blocking(FakeSink):
        def play(self, wav, text):
            gate.wait(5)
            super().play(wav, text)

    sink = Blocking()
    out = SpeechOutput(SpeechSettings(say="count"), sink=sink, renderer=_NullRenderer())
    try:
        for i in range(1, 4):
            out.handle(rep(i, float(i)))
        assert wait_until(lambda: len(out._queue) == 2, 2)
        out.handle(ExerciseEvent(t=4.0, exercise="deadlift", previous="squat"))
        gate.set()
        time.sleep(0.3)
        assert sink.texts == ["1"]
    finally:
        out.close()


def test_the_frame_loop_through_outputs_is_not_slowed_by_speech():
    """Through the fan-out (as the station wires it): handle() of the whole fan-out stays fast
    while the speaker takes half a second per phrase."""
    sink = FakeSink(delay=0.5)
    fan = Outputs()
    fan.add(SpeechOutput(SpeechSettings(say="both", repeat_s=0), sink=sink, renderer=_NullRenderer()))
    try:
        times = []
        for i in range(200):
            ev = rep(i // 20 + 1, i * 0.033, ["go deeper"]) if i % 20 == 19 else None
            t0 = time.perf_counter()
            if ev is not None:
                fan.handle(ev)
            times.append(time.perf_counter() - t0)
        assert max(times) < 0.01
    finally:
        fan.close()


def test_phrase_text_is_passed_to_the_engine_as_one_argument(tmp_path):
    """A cue starting with '-' or holding quotes is text, never an option."""
    engine = tmp_path / "fake-espeak"
    log = tmp_path / "argv"
    engine.write_text("#!/bin/sh\nfor a in \"$@\"; do echo \"$a\" >> " + str(log) + "; done\n"
                      "while [ $# -gt 0 ]; do if [ \"$1\" = -w ]; then : > \"$2\"; fi; shift; done\n")
    engine.chmod(0o755)
    r = Renderer(SpeechSettings(), cache_dir=tmp_path / "c", engine=str(engine))
    r.render("-v don't")
    args = log.read_text().splitlines()
    assert args[-2:] == ["--", "-v don't"]
    assert re.search(r"[0-9a-f]{20}\.wav$", str(r.render("-v don't")))


@needs_espeak
def test_an_exercise_change_renders_its_cues_ahead_of_the_first_rep(tmp_path):
    from formcheck.device.exercises import EXERCISES

    sink = FakeSink()
    out = SpeechOutput(SpeechSettings(cache_dir=str(tmp_path)), sink=sink)
    try:
        cues = {c.cue for c in EXERCISES["squat"].conditions if c.cue}
        out.handle(ExerciseEvent(t=0.0, exercise="squat"))
        assert wait_until(lambda: out.renderer.rendered == len(cues), 20)
        out.handle(rep(1, 3.0, [next(iter(cues))]))
        assert wait_until(lambda: len(sink.played) == 1, 5)
        assert out.renderer.rendered == len(cues)  # the cue was ready: no render at rep time
    finally:
        out.close()
