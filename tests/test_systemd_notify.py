"""sd_notify against a real AF_UNIX datagram socket, and the station run as systemd would run
it: READY=1, periodic WATCHDOG=1, STOPPING=1 on SIGTERM, exit 0."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
from helpers import RecordedPose

from formcheck.device.app.systemd import Notifier


class FakeSystemd:
    """A bound datagram socket like systemd's notify socket; records messages with arrival times."""

    def __init__(self, path: str | None = None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is None:  # abstract namespace
            name = f"formcheck-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            self.sock.bind(path)
            self.env_value = path
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []

    def collect(self, seconds: float, until=None) -> list[tuple[float, str]]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))
            if until is not None and until(data.decode()):
                break
        return self.messages

    def lines(self) -> list[str]:
        return [line for _, m in self.messages for line in m.split("\n")]

    def close(self):
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def systemd(request, tmp_path):
    s = FakeSystemd(str(tmp_path / "notify.sock") if request.param == "path" else None)
    yield s
    s.close()


def test_ready_status_stopping_arrive_as_datagrams(systemd):
    n = Notifier({"NOTIFY_SOCKET": systemd.env_value})
    assert n.enabled
    assert n.ready("running: camera 0")
    assert n.status("12.0 fps")
    assert n.stopping()
    systemd.collect(0.3, until=lambda m: "STOPPING" in m)
    assert [m for _, m in systemd.messages] == ["READY=1\nSTATUS=running: camera 0", "STATUS=12.0 fps",
                                                "STOPPING=1"]
    n.close()


def test_watchdog_paced_at_half_the_period(systemd):
    clock = [100.0]
    n = Notifier({"NOTIFY_SOCKET": systemd.env_value, "WATCHDOG_USEC": "2000000"}, clock=lambda: clock[0])
    assert n.watchdog_interval == 1.0
    sent = []
    for _ in range(40):  # the frame loop calls it every 0.1 s for 4 s
        sent.append(n.watchdog())
        clock[0] += 0.1
    assert sum(sent) == 4  # at t = 0, 1, 2, 3
    systemd.collect(0.3)
    assert systemd.lines().count("WATCHDOG=1") == 4


def test_watchdog_of_another_process_is_ignored(systemd):
    n = Notifier({"NOTIFY_SOCKET": systemd.env_value, "WATCHDOG_USEC": "1000000",
                  "WATCHDOG_PID": str(os.getpid() + 1)})
    assert n.watchdog_interval is None and not n.watchdog()


def test_no_op_without_systemd():
    n = Notifier({})
    assert not n.enabled
    assert not n.ready() and not n.watchdog(force=True) and not n.stopping()


def test_a_vanished_socket_never_raises(tmp_path):
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock"), "WATCHDOG_USEC": "100"})
    assert n.enabled
    assert not n.ready()  # ENOENT: logged once, swallowed
    assert not n.watchdog(force=True)


def make_clip(path, seconds: float = 30.0, fps: float = 30.0):
    """A landmark clip of a person standing (no reps needed: this is about the service)."""
    from formcheck.device.sequences import LandmarkSequence, write_sequences

    n = int(seconds * fps)
    lm = np.zeros((n, 33, 4), np.float32)
    lm[:, :, 0] = np.linspace(0.4, 0.6, 33)
    lm[:, :, 1] = np.linspace(0.1, 0.9, 33)
    lm[:, :, 3] = 0.99
    seq = LandmarkSequence(id="standing", t=np.arange(n) / fps, landmarks=lm, exercise="squat",
                           image_size=(640, 480), fps=fps)
    write_sequences(path, [seq])
    return path


def test_station_under_systemd_ready_watchdog_stopping(tmp_path):
    clip = make_clip(tmp_path / "clip.npz")
    cfg = tmp_path / "station.toml"
    cfg.write_text("[station]\nexercise = \"squat\"\n[gpio]\nenabled = false\n[display]\nenabled = false\n"
                   "[logging]\nstats_interval = 0.5\n")
    sd = FakeSystemd()
    env = dict(os.environ, NOTIFY_SOCKET=sd.env_value, WATCHDOG_USEC="1000000", PYTHONUNBUFFERED="1")
    env.pop("WATCHDOG_PID", None)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "formcheck.device.app.station", "--config", str(cfg), "--source", str(clip),
         "--realtime"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sd.collect(30, until=lambda m: "READY=1" in m)
        assert any("READY=1" in m for _, m in sd.messages), (proc.poll(), sd.messages)
        ready_t = next(t for t, m in sd.messages if "READY=1" in m)
        sd.collect(2.6)  # ~2.6 s of running: pings every 0.5 s
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    sd.collect(0.5, until=lambda m: "STOPPING=1" in m)
    sd.close()
    assert proc.returncode == 0, err[-3000:]
    lines = sd.lines()
    pings = [t for t, m in sd.messages if m == "WATCHDOG=1" and t > ready_t]
    assert len(pings) >= 4, sd.messages  # every 0.5 s over 2.6 s: 5
    assert max(b - a for a, b in itertools.pairwise(pings)) < 1.0  # never late for the watchdog
    assert "STOPPING=1" in lines
    assert lines.index("READY=1") < lines.index("STOPPING=1")
    assert any(line.startswith("STATUS=") for line in lines)
    assert "SIGTERM" in err and "stopping" in err
    assert ready_t - t0 < 30


def test_ready_even_without_a_camera_after_the_ready_timeout():
    """A camera missing at boot must not fail the unit: READY comes after ready_timeout, saying
    what it waits for, and the watchdog keeps being fed while the camera is retried."""
    import io

    from formcheck.device.app import config as C
    from formcheck.device.app.station import Station
    from formcheck.device.capture.sources import open_source
    from formcheck.device.sequences import LandmarkSequence

    class NoCamera:
        def __init__(self, target):
            pass

        def isOpened(self):  # OpenCV's name
            return False

        def release(self):
            pass

    sd = FakeSystemd()
    notifier = Notifier({"NOTIFY_SOCKET": sd.env_value, "WATCHDOG_USEC": "200000"})
    cfg = C.apply_overrides(C.Config(), {"station.exercise": "squat", "station.ready_timeout": 0.3,
                                         "gpio.enabled": False, "display.enabled": False,
                                         "logging.stats_interval": 0.0})
    seq = LandmarkSequence(id="x", t=np.arange(3) / 30, landmarks=np.zeros((3, 33, 4)))
    st = Station(cfg, notifier=notifier, source=open_source("0", capture_factory=NoCamera, reconnect_max=0.1),
                 estimator=RecordedPose(seq), stream=io.StringIO())
    st.setup()
    assert st.run(duration=1.0) == 0
    sd.collect(0.3, until=lambda m: "STOPPING" in m)
    sd.close()
    ready = [m for _, m in sd.messages if m.startswith("READY=1")]
    assert len(ready) == 1 and "waiting for camera 0" in ready[0] and "cannot open" in ready[0]
    assert sd.lines().count("WATCHDOG=1") >= 5  # every 0.1 s for 1 s while the camera is away
    assert st.frames == 0 and st.source.stats().failures >= 3
