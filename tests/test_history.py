"""Rep history: SQLite rows per rep, bounds, power-loss safety, corruption, corrections, CLI."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from formcheck.device.app import history_cli
from formcheck.device.events import RepEvent, StateEvent
from formcheck.device.outputs.fanout import Outputs
from formcheck.device.outputs.history import (
    History,
    HistoryOutput,
    HistorySettings,
    RecentPoses,
    decode_landmarks,
    encode_landmarks,
)

REPO = Path(__file__).resolve().parents[1]


def rep(n: int, t: float, exercise="squat", cues=(), probs=None) -> RepEvent:
    return RepEvent(t=t, exercise=exercise, rep=n, correct=not cues, score=0.8 if not cues else 0.2,
                    failed=["rom"] if cues else [], cues=list(cues), start=t - 2.0, end=t,
                    probs=probs or {"rom": 0.9 if not cues else 0.2, "knees_in_line": 0.7})


def landmarks(frames: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0 + 100.0
    lm = rng.random((frames, 33, 4)).astype(np.float32)
    lm[5, 3] = np.nan  # a missing joint stays missing
    return t, lm


def test_a_rep_round_trips_with_its_landmarks_compactly(tmp_path):
    with History(tmp_path / "h.sqlite3") as h:
        t, lm = landmarks()
        ev = rep(1, 102.0, cues=["go deeper"])
        ev.conditions = [{"key": "rom", "judged": True, "holds": False, "value": 0.4, "p": None,
                          "cue": "go deeper", "reason": ""}]
        rid = h.add(ev, (t, lm))
        r = h.get(rid, landmarks=True)
    assert r["exercise"] == "squat" and r["rep"] == 1 and r["correct"] is False
    assert r["cues"] == ["go deeper"] and r["failed"] == ["rom"] and r["probs"]["rom"] == 0.2
    assert r["conditions"][0]["value"] == 0.4 and r["verdict_ok"] is None
    assert r["lm"].shape == (60, 33, 4) and np.isnan(r["lm"][5, 3]).all()
    ok = np.isfinite(lm)
    assert np.allclose(r["lm"][ok], lm[ok], atol=1e-3)  # float16: ~3 significant digits
    assert np.allclose(r["lm_t"], t - t[0], atol=1e-5)
    n, tb, lb = encode_landmarks(t, lm)
    assert len(lb) == 60 * 33 * 4 * 2  # 2 bytes a value
    assert decode_landmarks(n, tb, lb)[1].dtype == np.float32


def test_bad_landmarks_are_refused_with_their_shape(tmp_path):
    with History(tmp_path / "h.sqlite3") as h, pytest.raises(ValueError, match=r"\(T, 33, 4\)"):
        h.add(rep(1, 1.0), (np.arange(3.0), np.zeros((3, 17, 2))))


def test_sets_start_at_rep_one_and_on_an_exercise_change(tmp_path):
    with History(tmp_path / "h.sqlite3") as h:
        for ev in [rep(1, 1), rep(2, 2), rep(3, 3), rep(1, 10), rep(2, 11),
                   rep(3, 12, exercise="deadlift"), rep(4, 13, exercise="deadlift")]:
            h.add(ev)
        assert [r["set_id"] for r in h.reps()] == [1, 1, 1, 2, 2, 3, 3]
    with History(tmp_path / "h.sqlite3") as h:  # continues after a restart
        h.add(rep(5, 14, exercise="deadlift"))
        h.add(rep(1, 20))
        assert [r["set_id"] for r in h.reps()][-2:] == [3, 4]


def test_the_journal_is_wal_with_full_sync(tmp_path):
    p = tmp_path / "h.sqlite3"
    with History(p) as h:
        h.add(rep(1, 1.0))
        assert h._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert h._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_recent_poses_cut_a_reps_landmarks():
    ring = RecentPoses(keep_s=5.0)
    for i in range(300):  # 10 s at 30 fps
        lm = None if i == 250 else np.full((33, 4), i, np.float32)
        ring.push(i / 30, lm)
    assert ring.between(0.0, 1.0) is None  # older than keep_s: gone
    t, lm = ring(RepEvent(t=9.0, start=8.0, end=9.0))
    assert len(t) == 31 and t[0] == pytest.approx(8.0) and lm.shape == (31, 33, 4)
    assert np.isnan(lm[t.tolist().index(250 / 30)]).all()


def test_the_history_output_writes_reps_only_on_its_own_thread_with_landmarks(tmp_path):
    ring = RecentPoses()
    h = History(tmp_path / "h.sqlite3")
    out = HistoryOutput(h, landmarks=ring)
    with Outputs([out]) as fan:
        assert fan.stats()[0].name == "history"
        for i in range(90):
            ring.push(i / 30, np.full((33, 4), 0.5, np.float32))
            fan.handle(StateEvent(t=i / 30))
        fan.handle(RepEvent(t=3.0, exercise="squat", rep=1, correct=True, start=1.0, end=2.9))
    with History(tmp_path / "h.sqlite3") as h2:
        rows = list(h2.reps(landmarks=True))
    assert len(rows) == 1 and rows[0]["lm_frames"] == 58


def test_oldest_reps_are_dropped_past_max_reps(tmp_path):
    with History(tmp_path / "h.sqlite3", HistorySettings(max_reps=50)) as h:
        for i in range(1, 131):
            h.add(rep(i, float(i)))
        ids = [r["id"] for r in h.reps()]
        assert len(ids) == 50 and ids[0] == 81 and ids[-1] == 130


def test_soak_20k_frames_and_hundreds_of_reps_keep_the_database_bounded(tmp_path):
    """600 reps (20k frames of landmarks at 30 fps through the ring) with a 2 MB bound: the file
    stops growing once full, the newest reps are kept whole."""
    p = tmp_path / "h.sqlite3"
    ring = RecentPoses()
    h = History(p, HistorySettings(max_mb=2.0))
    out = HistoryOutput(h, landmarks=ring)
    rng = np.random.default_rng(1)
    sizes = []
    frames, n = 20_000, 0
    for i in range(frames):
        t = i / 30
        ring.push(t, rng.random((33, 4), dtype=np.float32))
        if i % 33 == 32:  # a rep every 1.1 s
            n += 1
            out.handle(RepEvent(t=t, exercise="squat", rep=(n - 1) % 12 + 1, correct=bool(n % 3),
                                start=t - 1.0, end=t, probs={"rom": 0.5}))
            if n % 50 == 0:
                sizes.append(os.path.getsize(p) + os.path.getsize(str(p) + "-wal"))
    assert n >= 600
    kept = h.count()
    assert 0 < kept < n and h.dropped == n - kept
    assert h.used_bytes() <= 2.0e6
    # once full, the files stop growing (freed pages are reused / given back)
    assert max(sizes[len(sizes) // 2:]) <= 1.3 * max(sizes[: len(sizes) // 2])
    newest = next(iter(h.reps(order="id DESC", landmarks=True)))
    assert newest["rep"] == (n - 1) % 12 + 1 and newest["lm"].shape == (31, 33, 4)
    out.close()
    assert os.path.getsize(p) < 2.6e6


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from formcheck.device.events import RepEvent
    from formcheck.device.outputs.history import History
    h = History(sys.argv[1])
    t = np.arange(90) / 30.0
    lm = np.random.default_rng(0).random((90, 33, 4), dtype=np.float32)
    for i in range(1, 100000):
        rid = h.add(RepEvent(t=float(i), exercise="squat", rep=i, correct=True, start=i - 1.0, end=float(i)),
                    (t, lm))
        print(rid, flush=True)   # acknowledged: committed
""")


def test_kill_9_mid_write_loses_at_most_the_rep_being_written(tmp_path):
    p = tmp_path / "h.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = dict(os.environ)
    for attempt, wait in enumerate((0.0, 0.003, 0.011)):
        proc = subprocess.Popen([sys.executable, str(script), str(p)],
                                stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        acked = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            acked = int(line)
            if acked >= 40 * (attempt + 1):
                break
        time.sleep(wait)  # land the kill at different points of the next write
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        for line in proc.stdout.read().splitlines():  # acknowledged before the kill landed
            acked = max(acked, int(line))
        conn = sqlite3.connect(p)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT MAX(id), COUNT(*) FROM reps").fetchone()
        conn.close()
        assert acked <= stored[0] <= acked + 1, (acked, stored)  # every acknowledged rep is there
        assert stored[1] == stored[0]  # no hole: nothing committed was lost
        with History(p) as h:  # and it opens cleanly for the next run
            assert h.moved_aside is None and h.count() == stored[1]


def test_a_corrupt_file_is_moved_aside_with_a_clear_message_and_a_new_one_started(tmp_path, caplog):
    p = tmp_path / "h.sqlite3"
    p.write_bytes(b"this is not a database at all" * 200)
    with caplog.at_level(logging.ERROR), History(p) as h:
        assert h.moved_aside is not None and h.moved_aside.read_bytes().startswith(b"this is not")
        h.add(rep(1, 1.0))
        assert h.count() == 1
    msg = caplog.text
    assert "not a healthy database" in msg and str(h.moved_aside) in msg and "moved aside" in msg


def test_a_damaged_database_is_moved_aside_too(tmp_path, caplog):
    p = tmp_path / "h.sqlite3"
    with History(p) as h:
        for i in range(1, 200):
            h.add(rep(i, float(i)), landmarks(30, i))
    data = bytearray(p.read_bytes())
    page = 4096
    data[3 * page: 6 * page] = os.urandom(3 * page)  # scribble over b-tree pages
    p.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR), History(p) as h:
        assert h.moved_aside is not None and h.moved_aside.exists()
        assert h.count() == 0
        h.add(rep(1, 1.0))
    assert "moved aside" in caplog.text


def test_correct_last_marks_the_newest_rep(tmp_path):
    with History(tmp_path / "h.sqlite3") as h:
        assert h.correct_last(False) is None
        h.add(rep(1, 1.0))
        h.add(rep(2, 2.0, cues=["go deeper"]))
        r = h.correct_last(False, {"rom": True})
        assert r["rep"] == 2 and r["verdict_ok"] is False and r["labels"] == {"rom": True}
        assert r["corrected_wall"] > 0
        r1 = h.correct(1, True)
        assert r1["verdict_ok"] is True and r1["labels"] is None
        assert h.correct(999, True) is None
        h.add(rep(1, 5.0, exercise="deadlift"))
        assert h.correct_last(True, exercise="squat")["id"] == 2


def _cli(*argv) -> tuple[int, str]:
    buf = io.StringIO()
    old, sys.stdout = sys.stdout, buf
    try:
        code = history_cli.main(list(argv))
    finally:
        sys.stdout = old
    return code, buf.getvalue()


def test_cli_days_sets_reps_export_and_correct(tmp_path, capsys):
    p = tmp_path / "h.sqlite3"
    day1 = time.mktime((2026, 12, 5, 10, 0, 0, 0, 0, -1))
    day2 = time.mktime((2026, 12, 6, 18, 0, 0, 0, 0, -1))
    with History(p) as h:
        for i in range(1, 6):
            h.add(rep(i, float(i), cues=["go deeper"] if i == 3 else ()), wall=day1 + i)
        for i in range(1, 4):
            h.add(rep(i, float(i), exercise="deadlift"), wall=day1 + 600 + i)
        for i in range(1, 3):
            h.add(rep(i, float(i)), landmarks(20, i), wall=day2 + i)
    code, out = _cli("--db", str(p))
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:5] == ["2026-12-05", "2", "8", "7", "1"]
    assert lines[2].split()[:5] == ["2026-12-06", "1", "2", "2", "0"]
    code, out = _cli("--db", str(p), "sets", "--day", "2026-12-05")
    assert code == 0 and "go deeper x1" in out and len(out.splitlines()) == 3
    code, out = _cli("--db", str(p), "correct", "wrong", "--fails", "rom")
    assert code == 0 and "#10" in out and "wrong" in out
    code, out = _cli("--db", str(p), "reps", "-n", "2")
    assert "(marked wrong)" in out.splitlines()[-1]
    code, out = _cli("--db", str(p), "export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 10 and rows[2]["cues"] == '["go deeper"]' and rows[-1]["verdict_ok"] == "False"
    out_file = tmp_path / "x.jsonl"
    assert _cli("--db", str(p), "export", "--format", "json", "--landmarks", "-o", str(out_file))[0] == 0
    recs = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert len(recs) == 10 and len(recs[-1]["lm"]) == 20 and recs[-1]["labels"] == {"rom": False}
    assert _cli("--db", str(tmp_path / "none.sqlite3"))[0] == 1
    assert "no rep history" in capsys.readouterr().err
    assert _cli("--db", str(p), "sets", "--day", "5.12.2026")[0] == 2


def test_cli_help_is_complete():
    r = subprocess.run([sys.executable, "-m", "formcheck.device.app.history_cli", "--help"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0
    for word in ("days", "sets", "reps", "export", "correct", "--db", "examples:"):
        assert word in r.stdout


# ---- the button's double click marks the last rep wrong ------------------------------------------

def test_a_double_click_is_told_from_a_single_click():
    from helpers import wait_until

    from formcheck.device.outputs.gestures import ClickGestures

    calls: list[str] = []
    g = ClickGestures(lambda: calls.append("single"), lambda: calls.append("double"), double_click_s=0.2)
    try:
        g.click()
        assert wait_until(lambda: calls == ["single"], 2)
        g.click()
        time.sleep(0.05)
        g.click()
        assert calls == ["single", "double"]  # at once, no wait for a third click
        time.sleep(0.35)
        assert calls == ["single", "double"]  # and no single click after it
        g.click()
        time.sleep(0.3)
        g.click()  # too late for a double
        assert wait_until(lambda: calls == ["single", "double", "single", "single"], 2)
    finally:
        g.close()
    with pytest.raises(ValueError):
        ClickGestures(lambda: None, lambda: None, double_click_s=5)


def test_a_double_click_marks_the_last_rep_wrong(tmp_path):
    from helpers import wait_until

    from formcheck.device.outputs.gestures import ClickGestures

    h = History(tmp_path / "h.sqlite3")
    out = HistoryOutput(h)
    nexts = []
    g = ClickGestures(lambda: nexts.append(1), lambda: out.correct_last(False), double_click_s=0.2)
    try:
        out.handle(rep(1, 1.0))
        out.handle(rep(2, 2.0, cues=["go deeper"]))
        g.click()
        g.click()
        assert wait_until(lambda: h.get(2)["verdict_ok"] is False, 2)
        assert h.get(1)["verdict_ok"] is None and nexts == []
    finally:
        g.close()
        out.close()


def test_the_personal_feedback_layer_wires_history_speech_thresholds_and_the_button(tmp_path):
    """What the station does with it: poses into the ring, events through the thresholds into
    the outputs, a double click marks the last rep wrong (and says so), reload re-reads."""
    from types import SimpleNamespace

    from helpers import wait_until

    from formcheck.device.app.feedback import ACK_WRONG, PersonalFeedback
    from formcheck.device.judging.personal import PersonalThresholds
    from formcheck.device.outputs.speech import FakeSink

    personal = tmp_path / "personal.json"
    cfg = SimpleNamespace(
        speech=SimpleNamespace(enabled=True, say="cues", voice="en-us", volume=1.0, rate=165, quiet=False,
                               repeat_s=8.0, max_cues=1, stale_s=4.0, queue_size=3, player="aplay -q",
                               cache_dir=str(tmp_path / "speech")),
        history=SimpleNamespace(enabled=True, path=str(tmp_path / "h.sqlite3"), max_reps=100, max_mb=10.0,
                                landmarks=True, check_on_open=True, personal=str(personal)))
    singles = []
    sink = FakeSink()
    # without espeak-ng the layer still builds, without speech
    fb = PersonalFeedback.from_config(cfg, on_single_click=lambda: singles.append(1), sink=sink)
    fb.gestures.double_click_s = 0.2
    with Outputs(fb.outputs()) as fan:
        for i in range(90):
            fb.on_pose(i / 30, np.full((33, 4), 0.5, np.float32))
        ev = RepEvent(t=3.0, exercise="squat", rep=1, correct=False, failed=["back_neutral"],
                      cues=["keep your back neutral"], probs={"back_neutral": 0.3}, start=1.0, end=2.9,
                      good=0, bad=1)
        fan.handle(fb.process(ev))
        assert wait_until(lambda: fb.history.written == 1, 5)
        fb.click()
        fb.click()
        assert wait_until(lambda: fb.history.history.get(1)["verdict_ok"] is False, 3)
        if fb.speech is not None:
            assert wait_until(lambda: sink.texts == ["keep your back neutral", ACK_WRONG], 10), sink.texts
        # the person's thresholds arrive; a reload applies them to the next rep
        PersonalThresholds({"squat": {"back_neutral": 0.25}}).save(personal)
        assert fb.reload()
        again = fb.process(RepEvent(t=6.0, exercise="squat", rep=2, correct=False, failed=["back_neutral"],
                                    cues=["x"], probs={"back_neutral": 0.3}, good=0, bad=2))
        assert again.correct is True and (again.good, again.bad) == (1, 1)
        fb.click()
        assert wait_until(lambda: singles == [1], 2)
    fb.close()
    rows = list(History(tmp_path / "h.sqlite3").reps(landmarks=True))
    assert rows[0]["lm_frames"] == 58 and rows[0]["verdict_ok"] is False


# ---- through the station -----------------------------------------------------------------------

def _squats(n_reps: int, rep_s: float = 1.0, rest_s: float = 0.5, fps: float = 30.0):
    from formcheck.device.sequences import LandmarkSequence
    from formcheck.train import demo

    lm = demo.squat_landmarks(demo.squat_phases(n_reps, fps, lead_s=1.0, rep_s=rep_s, rest_s=rest_s, tail_s=1.0))
    return LandmarkSequence(id="squats", t=np.arange(len(lm)) / fps, landmarks=lm, exercise="squat",
                            image_size=(640, 480), fps=fps)


def _station_config(tmp_path, **over):
    from formcheck.device.app import config as C

    o = {"station.exercise": "squat", "gpio.enabled": False, "display.enabled": False,
         "logging.stats_interval": 0.0, "camera.realtime": False,
         "history.path": str(tmp_path / "h.sqlite3"), "history.personal": str(tmp_path / "personal.json")}
    return C.apply_overrides(C.Config(), {**o, **over})


def test_the_station_keeps_every_rep_and_a_double_click_marks_the_last_one_wrong(tmp_path):
    import threading

    from gpiozero.pins.mock import MockFactory
    from helpers import clip_source, wait_until

    from formcheck.device.app.station import Station

    factory = MockFactory()
    cfg = _station_config(tmp_path, **{"gpio.enabled": True, "camera.realtime": True})
    out = io.StringIO()
    st = Station(cfg, source=clip_source(_squats(4), realtime=True), stream=out, pin_factory=factory)
    st.setup()
    st.feedback.gestures.double_click_s = 1.0  # a loaded test machine delays gpiozero's callbacks
    hist = st.feedback.history
    button = factory.pin(23)
    marked = []

    def double_click():
        assert wait_until(lambda: hist.written >= 2, 20)
        for _ in range(2):
            button.drive_low()
            time.sleep(0.05)
            button.drive_high()
            time.sleep(0.1)
        marked.append(hist.written)

    threading.Thread(target=double_click, daemon=True).start()
    assert st.run(duration=20) == 0
    reps = [json.loads(x) for x in out.getvalue().splitlines() if '"rep"' in x]
    with History(tmp_path / "h.sqlite3") as h:
        rows = list(h.reps(landmarks=True))
    assert [r["rep"] for r in rows] == [r["rep"] for r in reps] == [1, 2, 3, 4]
    assert all(r["lm_frames"] >= 20 and r["lm"].shape[1:] == (33, 4) for r in rows)
    assert {r["set_id"] for r in rows} == {1}
    wrong = [r["rep"] for r in rows if r["verdict_ok"] is False]
    assert wrong == [marked[0]]  # the rep just before the double click, and only it
    assert not any('"exercise"' in x and '"button"' in x for x in out.getvalue().splitlines())  # no next


@pytest.mark.slow
def test_station_soak_20k_frames_keeps_the_history_bounded(tmp_path):
    """20 000 frames (11 minutes of squats at 30 fps, ~500 reps) as fast as the station goes,
    history bounded at 1 MB: the database stays at its bound and keeps the newest reps."""
    from helpers import clip_source

    from formcheck.device.app.station import Station

    seq = _squats(545, rep_s=0.9, rest_s=0.35)
    assert len(seq.t) >= 20_000
    cfg = _station_config(tmp_path, **{"history.max_mb": 1.0})
    st = Station(cfg, source=clip_source(seq), stream=io.StringIO())
    st.setup()
    assert st.run(max_frames=20_000) == 0
    db = tmp_path / "h.sqlite3"
    with History(db) as h:
        kept = h.count()
        newest = next(iter(h.reps(order="id DESC")))
        used = h.used_bytes()
    total = st.good + st.bad
    assert total >= 300 and 0 < kept < total  # hundreds of reps, the oldest dropped
    assert used <= 1.0e6 and os.path.getsize(db) <= 1.5e6
    assert newest["rep"] == total


def test_a_history_that_cannot_be_opened_leaves_the_station_running_without_it(tmp_path, caplog):
    from formcheck.device.app.feedback import PersonalFeedback

    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the history's folder should be
    with caplog.at_level(logging.ERROR):
        fb = PersonalFeedback(history=HistorySettings(path=str(blocker / "h.sqlite3")))
    assert fb.history is None and fb.outputs() == [] and "rep history off" in caplog.text
    assert fb.mark_last_wrong() is None
    fb.on_pose(0.0, None)  # no ring: nothing to do, nothing raised
    fb.close()
