"""MQTT output against a real mosquitto broker (started per test on a free localhost port)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from helpers import wait_until

mqtt = pytest.importorskip("paho.mqtt.client")

from formcheck.device.events import (  # noqa: E402
    NO_PERSON,
    TRACKING,
    ExerciseEvent,
    RepEvent,
    ResetEvent,
    StateEvent,
    StatsEvent,
)
from formcheck.device.outputs.fanout import Outputs  # noqa: E402
from formcheck.device.outputs.mqtt import SENSORS, MqttOutput  # noqa: E402

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto broker binary not found (apt-get install -y mosquitto)"
)

FAST = {"reconnect_min": 0.05, "reconnect_max": 0.2, "keepalive": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A mosquitto process with a temp config; persistence on so sessions survive a restart."""

    def __init__(self, root: Path, port: int | None = None):
        self.root = root
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.conf = root / "mosquitto.conf"
        user = "root" if os.geteuid() == 0 else None  # as root, mosquitto would drop to 'mosquitto'
        self.conf.write_text(textwrap.dedent(f"""\
            listener {self.port} 127.0.0.1
            allow_anonymous true
            persistence true
            persistence_location {root}/
            log_dest file {root}/mosquitto.log
            {"user " + user if user else ""}
            """))

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()} {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file and exits
            self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        p = self.root / "mosquitto.log"
        return p.read_text() if p.exists() else ""


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


class Listener:
    """A paho subscriber with a persistent session: it gets what was published while it was away."""

    def __init__(self, port: int, topics=("#",), client_id="test-listener"):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.topics = topics
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        clean_session=False)
        c.reconnect_delay_set(0.05, 0.2)
        c.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in self.topics])
        c.on_subscribe = lambda *a: self.subscribed.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port, keepalive=5)
        c.loop_start()
        self.client = c
        assert self.subscribed.wait(5), "listener could not subscribe"

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def payloads(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def json(self, topic: str) -> list[dict]:
        return [json.loads(p) for p in self.payloads(topic)]

    def wait(self, cond, timeout=10.0) -> bool:
        return wait_until(cond, timeout)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def rep(n, correct=True, good=None, bad=None):
    return RepEvent(t=float(n), exercise="squat", rep=n, correct=correct, score=0.9 if correct else 0.2,
                    failed=[] if correct else ["back_neutral"], cues=[] if correct else ["keep your back neutral"],
                    good=n if good is None else good, bad=0 if bad is None else bad)


def test_events_and_home_assistant_discovery_arrive(broker):
    listener = Listener(broker.port)
    out = MqttOutput("gym1", "127.0.0.1", broker.port, **FAST)
    try:
        assert wait_until(lambda: out.connected, 5), broker.log()
        events = [StateEvent(t=0, state=TRACKING, previous=NO_PERSON),
                  ExerciseEvent(t=0.1, exercise="squat", confidence=0.8),
                  rep(1), rep(2, correct=False, good=1, bad=1),
                  StatsEvent(t=3, fps=9.7, frames=30, good=1, bad=1)]
        for e in events:
            out.handle(e)
        assert listener.wait(lambda: len(listener.payloads("formcheck/gym1/rep")) == 2)
        reps = listener.json("formcheck/gym1/rep")
        assert [r["rep"] for r in reps] == [1, 2]
        assert reps[1]["correct"] is False and reps[1]["cues"] == ["keep your back neutral"]
        assert reps[1] == events[3].to_dict()
        assert listener.json("formcheck/gym1/state") == [events[0].to_dict()]
        assert listener.json("formcheck/gym1/exercise") == [events[1].to_dict()]
        assert listener.wait(lambda: listener.json("formcheck/gym1/stats"))
        assert listener.json("formcheck/gym1/stats")[-1]["fps"] == pytest.approx(9.7)
        assert listener.wait(lambda: b"online" in listener.payloads("formcheck/gym1/status"))
        summary = listener.json("formcheck/gym1/summary")[-1]
        assert summary["good"] == 1 and summary["bad"] == 1 and summary["state"] == TRACKING
        assert summary["last_verdict"] == "incorrect" and summary["last_cue"] == "keep your back neutral"

        # Discovery: one retained config per sensor, pointing at topics that carry the field.
        prefix = "homeassistant/sensor/formcheck_gym1/"
        assert listener.wait(lambda: all(listener.payloads(f"{prefix}{k}/config") for k in SENSORS))
        for key in SENSORS:
            cfg = listener.json(f"{prefix}{key}/config")[-1]
            assert cfg["unique_id"] == f"formcheck_gym1_{key}"
            assert cfg["availability_topic"] == "formcheck/gym1/status"
            assert cfg["device"]["identifiers"] == ["formcheck_gym1"]
            field = cfg["value_template"].split("value_json.")[1].split()[0]
            source = listener.json(cfg["state_topic"])
            assert source and field in source[-1], f"{key}: {cfg['state_topic']} has no {field}"
        assert listener.json(f"{prefix}good_reps/config")[-1]["state_topic"] == "formcheck/gym1/summary"
    finally:
        out.close()
        listener.close()
    # A clean close says offline (retained): a late subscriber sees it.
    late = Listener(broker.port, topics=("formcheck/gym1/status",), client_id="late")
    try:
        assert late.wait(lambda: late.payloads("formcheck/gym1/status") == [b"offline"])
    finally:
        late.close()


def test_reset_zeroes_the_summary(broker):
    listener = Listener(broker.port, topics=("formcheck/s/#",))
    out = MqttOutput("s", "127.0.0.1", broker.port, discovery=False, **FAST)
    try:
        out.handle(rep(1))
        out.handle(ResetEvent(t=2, reason="button"))
        assert listener.wait(lambda: listener.payloads("formcheck/s/reset"))
        assert listener.wait(lambda: listener.json("formcheck/s/summary")[-1:]
                             and listener.json("formcheck/s/summary")[-1]["good"] == 0)
    finally:
        out.close()
        listener.close()


def test_reps_published_while_the_broker_is_down_arrive_after_it_restarts(broker):
    listener = Listener(broker.port, topics=("formcheck/gym2/rep",))
    out = MqttOutput("gym2", "127.0.0.1", broker.port, discovery=False, **FAST)
    outs = Outputs([out])
    try:
        assert wait_until(lambda: out.connected, 5)
        outs.handle(rep(1))
        assert listener.wait(lambda: len(listener.payloads("formcheck/gym2/rep")) == 1)

        broker.stop()
        assert wait_until(lambda: not out.connected, 5), "the output did not notice the broker going away"
        t0 = time.perf_counter()
        for n in range(2, 7):
            outs.handle(rep(n))
            outs.handle(StatsEvent(t=float(n), fps=9.0, good=n))
        blocked = time.perf_counter() - t0
        assert out.pending >= 5, "reps were not buffered while the broker was down"
        time.sleep(0.3)  # several reconnect attempts fail meanwhile; nothing may be lost

        broker.start()
        assert wait_until(lambda: out.connected, 10), broker.log()
        assert listener.wait(lambda: len({json.loads(p)["rep"] for p in listener.payloads("formcheck/gym2/rep")})
                             == 6, 15), listener.payloads("formcheck/gym2/rep")
        got = [json.loads(p)["rep"] for p in listener.payloads("formcheck/gym2/rep")]
        assert sorted(set(got)) == [1, 2, 3, 4, 5, 6]
        assert got[1:] == [2, 3, 4, 5, 6], "buffered reps arrive in order"
        assert outs.stats()[0].failures == 0
        assert blocked < 2.0, "handle() waited for the broker"
    finally:
        outs.close()
        listener.close()


def test_broker_down_at_start_never_blocks_and_catches_up(tmp_path):
    port = free_port()
    t0 = time.perf_counter()
    out = MqttOutput("late", "127.0.0.1", port, discovery=False, **FAST)
    for n in range(1, 4):
        out.handle(rep(n))
    assert time.perf_counter() - t0 < 2.0, "constructor/handle blocked on a dead broker"
    assert not out.connected and out.pending >= 3
    broker = Broker(tmp_path, port)
    try:
        broker.start()
        listener = Listener(port, topics=("formcheck/late/rep",))
        try:
            # The listener may subscribe after the output flushed: only what it can see counts,
            # so check the broker delivered to the output's connection and the buffer drained.
            assert wait_until(lambda: out.connected and out.pending == 0, 10), broker.log()
            out.handle(rep(4))
            assert listener.wait(lambda: 4 in [json.loads(p)["rep"] for p in listener.payloads("formcheck/late/rep")])
        finally:
            listener.close()
    finally:
        out.close()
        broker.stop()


def test_an_unreachable_broker_is_logged_once_per_outage(tmp_path, caplog):
    import logging

    port = free_port()

    def said():
        return [r for r in caplog.records if r.name.endswith("outputs.mqtt")
                and "cannot reach" in r.getMessage() + (str(r.exc_info[1]) if r.exc_info else "")]

    caplog.set_level(logging.WARNING)
    out = MqttOutput("down", "127.0.0.1", port, discovery=False, **FAST)
    broker = Broker(tmp_path, port)
    try:
        assert wait_until(lambda: out.connect_failures >= 5, 15)
        assert len(said()) == 1  # paho keeps retrying; the log does not repeat it
        broker.start()
        assert wait_until(lambda: out.connected, 10), broker.log()
        broker.stop()
        n = out.connect_failures
        assert wait_until(lambda: out.connect_failures >= n + 3, 15)
        assert len(said()) == 2  # a new outage is said again at once, not 10 minutes later
    finally:
        out.close()
        broker.stop()


def test_full_buffer_drops_non_rep_messages_first(tmp_path):
    out = MqttOutput("full", "127.0.0.1", free_port(), discovery=False, buffer_size=6, **FAST)
    try:
        for n in range(1, 5):
            out.handle(StateEvent(t=float(n), state=TRACKING if n % 2 else NO_PERSON))
            out.handle(rep(n))
        kinds = [m.kind for m in out._buf]
        assert kinds.count("rep") == 4, kinds  # every rep kept
        assert len(kinds) == 6 and out.dropped > 0 and out.lost_reps == 0
        assert kinds.count("summary") <= 1  # retained snapshots coalesce
    finally:
        out.close(timeout=0.1)


def test_last_will_marks_a_crashed_station_offline(broker):
    listener = Listener(broker.port, topics=("formcheck/crash/status",))
    script = textwrap.dedent(f"""
        import os, time
        from formcheck.device.outputs.mqtt import MqttOutput
        out = MqttOutput("crash", "127.0.0.1", {broker.port}, discovery=False, keepalive=5)
        end = time.monotonic() + 10
        while not out.connected and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.3)  # let "online" go out
        os._exit(3)  # a crash: no close(), no DISCONNECT
        """)
    try:
        proc = subprocess.run([sys.executable, "-c", script], timeout=30)
        assert proc.returncode == 3
        assert listener.wait(lambda: listener.payloads("formcheck/crash/status")[-1:] == [b"offline"])
        assert b"online" in listener.payloads("formcheck/crash/status")
    finally:
        listener.close()


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match=r"mqtt\.station_id"):
        MqttOutput("gym/1")
    with pytest.raises(ValueError, match=r"mqtt\.topic_prefix"):
        MqttOutput("a", topic_prefix="x/#")
    with pytest.raises(ValueError, match=r"mqtt\.port"):
        MqttOutput("a", port=70000)
