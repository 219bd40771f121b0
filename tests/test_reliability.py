"""Nothing silently wrong: the station's behaviour where it used to look fine while being wrong
(README "Reliability"): a camera outage, broken or missing models, bad clip timestamps, a
dying capture thread, a terminal's one readable stream, and a closed stdout."""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from helpers import RecordedPose, clip_source, wait_until

from formcheck.device.app import cli
from formcheck.device.app import config as C
from formcheck.device.app import station as S
from formcheck.device.capture.sources import FrameSource, Reader, open_source
from formcheck.device.events import RepEvent, event_from_dict
from formcheck.device.judging.bundle import default_bundle_dir
from formcheck.device.sequences import LandmarkSequence, write_sequences
from formcheck.train import demo

FPS = 30.0


def squats(n_reps: int = 2, seed: int = 0) -> LandmarkSequence:
    lm = demo.squat_landmarks(demo.squat_phases(n_reps, FPS, 1.0, 2.0, 1.0, tail_s=1.0), seed)
    return LandmarkSequence(id="squats", t=np.arange(len(lm)) / FPS, landmarks=lm, exercise="squat",
                            image_size=(640, 480), fps=FPS)


def config(**over) -> C.Config:
    o = {"station.exercise": "squat", "gpio.enabled": False, "display.enabled": False,
         "logging.stats_interval": 0.0, "camera.realtime": False, "logging.json": True}
    o.update(over)
    return C.apply_overrides(C.Config(), o)


def quiet_config(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "station.toml"
    p.write_text("[gpio]\nenabled = false\n[display]\nenabled = false\n" + extra)
    return p


def events_of(text: str):
    return [event_from_dict(json.loads(line)) for line in text.splitlines() if line.startswith("{")]


# ---- 1. a network camera stopped and restarted ----------------------------------------------------

class MJPEGServer:
    """A network camera on loopback: multipart JPEG over HTTP, as IP cameras serve it."""

    def __init__(self, port: int = 0, fps: float = 20.0):
        self.port, self.fps = port, fps
        import cv2

        self.jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 128, np.uint8))[1].tobytes()

    def start(self) -> MJPEGServer:
        stop = self._stop = threading.Event()
        jpeg, fps = self.jpeg, self.fps

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not stop.is_set():
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(jpeg) + jpeg + b"\r\n")
                        time.sleep(1 / fps)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"


def test_network_camera_outage_is_an_event_on_every_output_and_in_stats():
    pytest.importorskip("cv2")
    from gpiozero.pins.mock import MockFactory
    from luma.core.device import dummy

    from formcheck.device.events import CameraEvent

    cam = MJPEGServer().start()
    cfg = config(**{"camera.source": cam.url, "camera.reconnect_max": 0.5, "logging.stats_interval": 0.5,
                    "gpio.enabled": True, "display.enabled": True, "judge.absence_reset": 0.0})
    out = io.StringIO()
    factory = MockFactory()
    st = S.Station(cfg, source=open_source(cam.url, reconnect_max=0.5, reconnect_min=0.1), stream=out,
                   estimator=RecordedPose(squats()), pin_factory=factory,
                   display_device=dummy(width=128, height=64, mode="1"))
    st.setup()
    display = next(s.output for s in st.outputs._slots if s.name == "display")
    signals = next(s.output for s in st.outputs._slots if s.name == "signals")
    result = {}
    runner = threading.Thread(target=lambda: result.setdefault("code", st.run(duration=30)), daemon=True)
    runner.start()
    try:
        assert wait_until(lambda: st.frames > 10, 20), "no frames from the MJPEG server"
        cam.stop()  # the camera goes away...
        assert wait_until(lambda: any(e.kind == "camera" for e in events_of(out.getvalue())), 10)
        assert wait_until(lambda: display.view.camera_lost, 5)
        assert signals.camera_lost
        amber, seen, end = factory.pin(cfg.gpio.amber_pin), set(), time.monotonic() + 1.5
        while time.monotonic() < end and len(seen) < 2:  # blinking, not steady "nobody"
            seen.add(bool(amber.state))
            time.sleep(0.02)
        assert seen == {True, False}
        lost_stats = wait_until(lambda: any(e.kind == "stats" and e.camera == "lost"
                                            for e in events_of(out.getvalue())), 5)
        frames_lost = st.frames
        time.sleep(2.0)
        cam.start()  # ...and comes back on the same address
        assert wait_until(lambda: any(isinstance(e, CameraEvent) and e.state == "back"
                                      for e in events_of(out.getvalue())), 15)
        assert wait_until(lambda: st.frames > frames_lost + 10, 10)
        assert wait_until(lambda: not display.view.camera_lost and not signals.camera_lost, 5)
    finally:
        st.stop("test over")
        runner.join(10)
        cam.stop()
    assert result["code"] == 0
    events = events_of(out.getvalue())
    cams = [e for e in events if isinstance(e, CameraEvent)]
    assert [c.state for c in cams] == ["lost", "back"], cams
    assert "stream" in cams[0].reason and cams[0].t > 0  # the capture error, named
    assert cams[1].reconnects == 1 and cams[1].outage_s >= 1.5
    stats = [e for e in events if e.kind == "stats"]
    assert lost_stats and stats[-1].camera == "ok" and stats[-1].reconnects == 1
    assert any(e.camera_fps > 0 for e in stats if e.t > cams[1].t)  # frames again, at a rate
    # while it was lost the judge saw nobody (no stale "tracking")
    states = [e.state for e in events if e.kind == "state"]
    assert "no_person" in states


def test_camera_events_reach_mqtt_display_text_and_console():
    from formcheck.device.events import CameraEvent
    from formcheck.device.outputs.display import ScreenView, _bottom_lines
    from formcheck.device.outputs.fanout import format_event
    from formcheck.device.outputs.mqtt import MqttOutput

    lost = CameraEvent(t=1.0, state="lost", reason="OSError: stream 1: no frame")
    assert "camera lost" in format_event(lost)
    m = MqttOutput("s1", "127.0.0.1", 1, discovery=False)
    try:
        msgs = list(m._messages(lost))
    finally:
        m.close()
    [cam] = [x for x in msgs if x.topic.endswith("/camera")]
    assert cam.retain and json.loads(cam.payload)["state"] == "lost"
    from PIL import ImageFont

    assert "Camera lost" in " ".join(_bottom_lines(ScreenView(camera_lost=True), ImageFont.load_default(), 128, 2))


# ---- 2. broken or missing models ----------------------------------------------------------------------

def broken_models(tmp_path: Path, how: str) -> Path:
    d = tmp_path / "models"
    shutil.copytree(default_bundle_dir(), d, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    model = d / "squat-conditions.tflite"
    if how == "truncated":
        model.write_bytes(model.read_bytes()[:1000])
    else:
        data = bytearray(model.read_bytes())
        data[-100] ^= 0xFF
        model.write_bytes(bytes(data))
    return d


@pytest.mark.parametrize("how", ["truncated", "hash-mismatched"])
def test_doctor_fails_on_a_broken_bundle_the_exercise_needs(tmp_path, capsys, how):
    from formcheck.device.app import doctor

    clip = write_sequences(tmp_path / "c.npz", [squats(1)])
    models = broken_models(tmp_path, how)
    code = doctor.main(["--config", str(quiet_config(tmp_path)), "--source", str(clip), "--models", str(models),
                        "--exercise", "squat"])
    out = capsys.readouterr().out
    assert code == 1 and "[FAIL] models" in out and "squat-conditions" in out and "sha256" in out
    assert "station is ready" not in out


def test_station_refuses_an_exercise_it_cannot_judge_exit_2_naming_bundle_and_field(tmp_path, capsys):
    clip = write_sequences(tmp_path / "c.npz", [squats(1)])
    models = broken_models(tmp_path, "truncated")
    args = ["--source", str(clip), "--fast", "--exercise", "squat", "--models", str(models)]
    assert cli.main([*args, "--config", str(quiet_config(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert "squat-conditions" in err and "'sha256'" in err and "allow_degraded" in err
    # a broken model of another exercise does not stop squats
    assert cli.main(["--source", str(clip), "--fast", "--exercise", "deadlift", "--models", str(models),
                     "--config", str(quiet_config(tmp_path))]) == 0
    capsys.readouterr()


def test_degraded_running_says_on_every_rep_what_was_not_judged(tmp_path, capsys):
    clip = write_sequences(tmp_path / "c.npz", [squats(2)])
    models = broken_models(tmp_path, "hash-mismatched")
    cfg = quiet_config(tmp_path, "[station]\nallow_degraded = true\n")
    assert cli.main(["--source", str(clip), "--fast", "--exercise", "squat", "--models", str(models), "--json",
                     "--config", str(cfg)]) == 0
    reps = [e for e in events_of(capsys.readouterr().out) if isinstance(e, RepEvent)]
    assert len(reps) == 2
    assert all(any("squat-conditions" in d and "sha256" in d for d in r.degraded) for r in reps)


def test_empty_models_folder_and_auto_without_recogniser_are_refused(tmp_path, capsys):
    seq = squats(1)
    seq.exercise = ""  # nothing in the clip says what is done
    clip = write_sequences(tmp_path / "c.npz", [seq])
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = str(quiet_config(tmp_path))
    assert cli.main(["--source", str(clip), "--fast", "--exercise", "squat", "--models", str(empty),
                     "--config", cfg]) == 2
    assert "no form or conditions model for squat" in capsys.readouterr().err
    no_rec = broken_models(tmp_path, "truncated")
    (no_rec / "recogniser.json").unlink()
    (no_rec / "squat-conditions.json").unlink()
    assert cli.main(["--source", str(clip), "--fast", "--exercise", "auto", "--models", str(no_rec),
                     "--config", cfg]) == 2
    assert "needs an exercise recogniser" in capsys.readouterr().err


# ---- 3. bad timestamps; a dying capture thread ------------------------------------------------------

def test_clip_timestamps_inf_and_backwards_are_dropped_with_a_warning_naming_the_frame(tmp_path, caplog, capsys):
    seq = squats(1)
    seq.t[20] = np.inf  # played in real time, this raised OverflowError in the capture thread
    seq.t[40] = seq.t[39] - 0.5
    clip = write_sequences(tmp_path / "bad.npz", [seq])
    caplog.set_level("WARNING")
    code = cli.main(["--source", str(clip), "--realtime", "--exercise", "squat", "--json", "--duration", "3",
                     "--config", str(quiet_config(tmp_path))])
    assert code == 0
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "frame 20 (t=inf)" in warned and "frame 40" in warned
    capsys.readouterr()


class BreaksAt(Reader):
    """A file-like reader that fails on frame ``n``, as a decoder bug would."""

    describe = "breaking clip"

    def __init__(self, n: int):
        self.n, self.i = n, 0
        self.seq = squats(1)

    def read(self):
        from formcheck.device.capture.landmark_clip import recorded_pose

        if self.i == self.n:
            raise RuntimeError("decoder exploded")
        self.i += 1
        pose = recorded_pose(self.seq, self.i - 1)
        return pose, pose.t


def test_a_capture_thread_that_fails_ends_the_station_non_zero(caplog):
    src = FrameSource(BreaksAt(30), realtime=False)
    src.yields_poses = True
    st = S.Station(config(), source=src, stream=io.StringIO())
    st.setup()
    assert st.run() == 1
    assert "decoder exploded" in caplog.text and "end of input" not in st.stop_reason


def test_an_output_worker_that_dies_ends_the_station_non_zero():
    class Slow:
        name, threaded = "slow", True

        def handle(self, event):
            pass

        def close(self):
            pass

    def broken(event):
        raise SystemExit("worker bug")  # past the per-event guard: a bug in the worker itself

    st = S.Station(config(), source=clip_source(squats(1)), stream=io.StringIO())
    st.setup()
    st.outputs.add(Slow())
    st.outputs._slots[-1].deliver = broken
    assert st.run() == 1


# ---- 5. a terminal: one readable stream, no native chatter, one clock -----------------------------------

def run_on_a_terminal(args: list[str], timeout: float = 60) -> str:
    """The station with stdout and stderr on a pseudo-terminal, as a person runs it."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "formcheck.device.app.station", *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(10)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_a_terminal_gets_one_readable_stream_without_native_chatter(tmp_path):
    clip = write_sequences(tmp_path / "c.npz", [squats(2)])
    text = run_on_a_terminal(["--source", str(clip), "--fast", "--exercise", "squat", "--pose-backend", "litert",
                              "--config", str(quiet_config(tmp_path, "[logging]\nstats_interval = 1.0\n"))])
    assert "squat rep 1" in text and "squat rep 2" in text
    assert text.count("squat rep 1:") == 1  # each event once, not also as a log line
    assert '{"event"' not in text  # no JSON on a terminal unless asked
    assert "XNNPACK" not in text and "W0000" not in text
    as_json = run_on_a_terminal(["--source", str(clip), "--fast", "--exercise", "squat", "--json",
                                 "--config", str(quiet_config(tmp_path))])
    assert '{"event":"rep"' in as_json and "squat rep 1:" not in as_json


def test_every_event_is_on_the_clip_clock_stats_too(tmp_path):
    seq = squats(2)
    st = S.Station(config(**{"logging.stats_interval": 0.05}), source=clip_source(seq, realtime=True),
                   stream=io.StringIO())
    st.setup()
    st.run()
    events = events_of(st.stream.getvalue())
    stats = [e for e in events if e.kind == "stats"]
    assert stats and all(0.0 <= e.t <= seq.t[-1] + 1e-6 for e in events), [(e.kind, e.t) for e in events]


# ---- 6. a closed stdout ----------------------------------------------------------------------------------

def test_demo_piped_into_head_ends_quietly():
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "formcheck.device.app.station", "--demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = [proc.stdout.readline() for _ in range(3)]  # what `| head -3` reads
    proc.stdout.close()  # ...before it exits
    _, err = proc.communicate(timeout=40)
    assert all(line.startswith(b"{") for line in lines)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()[-2000:]
    assert time.monotonic() - t0 < 30  # not the whole one-minute demo
