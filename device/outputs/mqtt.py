"""MQTT events with Home Assistant discovery (paho-mqtt 2.x). Off by default.

topic           QoS    retain  payload
==============  =====  ======  ===========================================================
``rep``         1      no      the RepEvent JSON (one message per rep; never dropped)
``state``       1      yes     the StateEvent JSON (current person state)
``exercise``    1      yes     the ExerciseEvent JSON
``reset``       1      no      the ResetEvent JSON
``camera``      1      yes     the CameraEvent JSON (a live camera ``lost`` / ``back``)
``stats``       1      yes     the StatsEvent JSON (periodic; fps, dropped, pose ms, RSS)
``summary``     1      yes     {"exercise","state","good","bad","rep","last_verdict",
                               "last_cue","score","t","camera"}: what Home Assistant shows
``status``      1      yes     ``online`` / ``offline`` (offline also as the last will)
==============  =====  ======  ===========================================================

Home Assistant discovery: retained configs under
``homeassistant/sensor/formcheck_<station_id>/<key>/config`` for good reps, bad reps, last
verdict, last cue, state, exercise and fps, all one device, available while ``status`` is
``online``. They are (re)published on every connect, so a broker that lost its retained store
gets them back.

Delivery: ``handle`` never blocks and never touches the network; it queues messages in a
bounded buffer that a flusher thread hands to paho while connected. paho's network loop
(``loop_start``) connects and reconnects on its own with backoff, so a broker that is down at
start, or goes away later, never blocks or stops the station. While disconnected messages
wait in the buffer (``buffer_size``); when it is full the oldest non-rep message goes first
(superseded state/summary/stats; queued summaries and stats are also coalesced to the newest),
so ``rep`` messages are only lost when more than ``buffer_size`` of them pile up. Messages
already handed to paho are kept by paho and resent after a reconnect (at least once:
a rep can arrive twice after a broken connection; its ``rep`` number identifies it). At most
``max_inflight`` unacknowledged QoS 1 messages are handed over at once, which bounds paho's own
queue while a dead connection is not yet noticed. Everything is QoS 1 (the traffic is a few
messages a second at most) so that every message is tracked the same way.
=======
``handle`` only queues; a flusher thread publishes while connected. Topics, discovery and
delivery guarantees: ``docs/device.md``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..events import (
    NO_PERSON,
    CameraEvent,
    Event,
    ExerciseEvent,
    RepEvent,
    ResetEvent,
    StateEvent,
    StatsEvent,
)
from .resilience import DropQueue, FailureLog

log = logging.getLogger(__name__)

# paho retries an unreachable broker every few seconds: one line per outage, then at most one per
# this many seconds (a station left without its broker for a day logs ~150 lines, not ~20000)
CONNECT_FAIL_LOG_S = 600.0

_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class _Msg:
    topic: str
    payload: str
    retain: bool
    kind: str  # event kind, "summary" or "status"


# key -> (name, json field of the summary / stats topic, extra discovery fields)
SENSORS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "good_reps": ("Good reps", "summary", "good", {"icon": "mdi:check-circle", "state_class": "total_increasing"}),
    "bad_reps": ("Bad reps", "summary", "bad", {"icon": "mdi:close-circle", "state_class": "total_increasing"}),
    "last_verdict": ("Last verdict", "summary", "last_verdict", {"icon": "mdi:scale-balance"}),
    "last_cue": ("Last cue", "summary", "last_cue", {"icon": "mdi:message-alert"}),
    "state": ("State", "summary", "state", {"icon": "mdi:human"}),
    "exercise": ("Exercise", "summary", "exercise", {"icon": "mdi:dumbbell"}),
    "fps": ("Frame rate", "stats", "fps", {
        "icon": "mdi:speedometer", "unit_of_measurement": "fps", "state_class": "measurement",
        "suggested_display_precision": 1, "entity_category": "diagnostic",
    }),
}


class MqttOutput:
    """Publishes station events to an MQTT broker. Implements the Output protocol."""

    name = "mqtt"
    threaded = False  # handle() only queues; the flusher and paho's loop do the network

    def __init__(
        self,
        station_id: str = "station",
        host: str = "localhost",
        port: int = 1883,
        *,
        topic_prefix: str = "formcheck",
        discovery: bool = True,
        discovery_prefix: str = "homeassistant",
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        keepalive: int = 30,
        buffer_size: int = 1000,
        max_inflight: int = 50,
        reconnect_min: float = 1.0,
        reconnect_max: float = 60.0,
        client_id: str | None = None,
        device_name: str | None = None,
    ):
        if not _ID_RE.match(station_id or ""):
            raise ValueError(f"mqtt.station_id must be letters, digits, '_' or '-', got {station_id!r}")
        for key, val in (("topic_prefix", topic_prefix), ("discovery_prefix", discovery_prefix)):
            if not val or any(c in val for c in "#+") or val.startswith("/") or val.endswith("/"):
                raise ValueError(f"mqtt.{key} must be a topic without wildcards or leading/trailing '/', got {val!r}")
        if not 0 < int(port) < 65536:
            raise ValueError(f"mqtt.port must be 1..65535, got {port!r}")
        if buffer_size < 1:
            raise ValueError(f"mqtt.buffer_size must be >= 1, got {buffer_size!r}")
        if not 0 < reconnect_min <= reconnect_max:
            raise ValueError(f"mqtt.reconnect_min/max must satisfy 0 < min <= max, got {reconnect_min}, {reconnect_max}")
        import paho.mqtt.client as mqtt

        self._mqtt = mqtt
        self.station_id = station_id
        self.base = f"{topic_prefix}/{station_id}"
        self.status_topic = f"{self.base}/status"
        self.discovery = discovery
        self.discovery_prefix = discovery_prefix
        self.device_name = device_name or f"formcheck {station_id}"
        self.host, self.port = host, int(port)
        self.buffer_size = buffer_size
        self.max_inflight = max_inflight

        self.published = 0  # messages acknowledged (QoS 1) or written (QoS 0)
        self.connects = 0

        self._summary: dict[str, Any] = {
            "exercise": "", "state": NO_PERSON, "good": 0, "bad": 0, "rep": 0,
            "last_verdict": "none", "last_cue": "", "score": None, "t": None, "camera": "ok",
        }
        self._buf = DropQueue(buffer_size, kept=lambda m: m.kind == "rep", total=buffer_size,
                              on_lost=self._lost_rep)
        self._lock = threading.Lock()  # guards _buf and the flags below; never held inside paho calls' callbacks
        self._wake = threading.Event()
        self._connected = False
        self._connect_fail = FailureLog(f"mqtt: broker {host}:{port}", CONNECT_FAIL_LOG_S, log, logging.WARNING)
        self._fail_streak = 0  # connection attempts failed since the last connect
        self._hello_due = False  # publish status + discovery after each (re)connect
        self._closing = False
        self._inflight: set[int] = set()  # QoS 1 mids handed to paho and not yet acknowledged
        self._early_acks: set[int] = set()  # acks that beat publish() returning
        self._ack_lock = threading.Lock()

        c = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"formcheck-{station_id}",
            clean_session=True,
        )
        if username:
            c.username_pw_set(username, password)
        if tls:
            c.tls_set()
        c.will_set(self.status_topic, "offline", qos=1, retain=True)
        c.reconnect_delay_set(min_delay=reconnect_min, max_delay=reconnect_max)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_connect_fail = self._on_connect_fail
        c.on_publish = self._on_publish
        self.client = c
        # connect_async + loop_start: the connection (and DNS) happens on paho's thread, which
        # keeps retrying a broker that is down; nothing here blocks.
        c.connect_async(host, self.port, keepalive=keepalive)
        c.loop_start()
        self._flusher = threading.Thread(target=self._flush_loop, name="mqtt-flush", daemon=True)
        self._flusher.start()

    # ---- Output ---------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def handle(self, event: Event) -> None:
        with self._lock:
            for m in self._messages(event):
                self._enqueue(m)
        self._wake.set()

    def _messages(self, event: Event):
        s = self._summary
        payload = event.to_json()
        if isinstance(event, RepEvent):
            yield _Msg(f"{self.base}/rep", payload, False, "rep")
            s.update(
                exercise=event.exercise or s["exercise"], good=event.good, bad=event.bad, rep=event.rep,
                last_verdict={True: "correct", False: "incorrect", None: "none"}[event.correct],
                last_cue=(event.cues[0] if event.cues else "") if event.correct is False else "",
                score=event.score if event.score is None or math.isfinite(event.score) else None,
            )
        elif isinstance(event, StateEvent):
            yield _Msg(f"{self.base}/state", payload, True, "state")
            s["state"] = event.state
        elif isinstance(event, ExerciseEvent):
            yield _Msg(f"{self.base}/exercise", payload, True, "exercise")
            s["exercise"] = event.exercise
        elif isinstance(event, ResetEvent):
            yield _Msg(f"{self.base}/reset", payload, False, "reset")
            s.update(good=0, bad=0, rep=0, last_verdict="none", last_cue="", score=None)
        elif isinstance(event, CameraEvent):
            yield _Msg(f"{self.base}/camera", payload, True, "camera")  # retained: the current state
            s["camera"] = "lost" if event.state == "lost" else "ok"
        elif isinstance(event, StatsEvent):
            yield _Msg(f"{self.base}/stats", payload, True, "stats")
            if (event.good, event.bad) == (s["good"], s["bad"]):
                return  # nothing new for the summary
            s.update(good=event.good, bad=event.bad)
        else:
            yield _Msg(f"{self.base}/{event.kind}", payload, False, event.kind)
        s["t"] = event.t
        yield _Msg(f"{self.base}/summary", json.dumps(s, separators=(",", ":")), True, "summary")

    def _enqueue(self, m: _Msg) -> None:
        if m.kind in ("summary", "stats"):  # retained snapshots: only the newest matters
            self._buf.remove_first(lambda old: old.kind == m.kind)
        self._buf.put(m)

    def _lost_rep(self, waiting: int) -> None:
        log.error("mqtt: %d reps waiting for the broker; oldest dropped (%d lost)", waiting, self._buf.lost + 1)

    @property
    def dropped(self) -> int:
        """Non-rep messages dropped from a full buffer."""
        return self._buf.dropped

    @property
    def lost_reps(self) -> int:
        """Rep messages dropped from a buffer full of reps."""
        return self._buf.lost

    @property
    def connect_failures(self) -> int:
        """Connection attempts that failed (broker unreachable), in all."""
        return self._connect_fail.count

    @property
    def pending(self) -> int:
        """Messages not yet handed to paho (waiting for the broker)."""
        return len(self._buf)

    # ---- paho callbacks (paho's thread: keep short, never take self._lock) ------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("mqtt: %s:%d refused the connection: %s", self.host, self.port, reason_code)
            return
        self.connects += 1
        self._fail_streak = 0
        self._connect_fail.recovered()
        log.info("mqtt: connected to %s:%d", self.host, self.port)
        self._hello_due = True
        self._connected = True
        self._wake.set()

    def _on_connect_fail(self, client, userdata) -> None:
        # paho retries on its own: logged once per outage, then every CONNECT_FAIL_LOG_S at most
        self._fail_streak += 1
        self._connect_fail(ConnectionError(f"cannot reach {self.host}:{self.port}; retrying in the background "
                                           "(events are buffered)"), first_of_streak=self._fail_streak == 1)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected
        self._connected = False
        if was and not self._closing:
            log.warning("mqtt: disconnected from %s:%d (%s); reconnecting in the background",
                        self.host, self.port, reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._ack_lock:
            if mid in self._inflight:
                self._inflight.discard(mid)
            else:
                self._early_acks.add(mid)
        self.published += 1
        self._wake.set()

    # ---- flusher ---------------------------------------------------------------------------
    def _publish(self, m: _Msg) -> None:
        """Hand one message to paho, which keeps it (QoS 1) until acknowledged, across reconnects."""
        info = self.client.publish(m.topic, m.payload, qos=1, retain=m.retain)
        if info.rc not in (self._mqtt.MQTT_ERR_SUCCESS, self._mqtt.MQTT_ERR_NO_CONN):
            log.warning("mqtt: publish to %s failed: %s", m.topic, self._mqtt.error_string(info.rc))
            return
        with self._ack_lock:
            # paho calls on_publish under its own lock, possibly before publish() returned here.
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
            else:
                self._inflight.add(info.mid)

    def _hello(self) -> None:
        self._publish(_Msg(self.status_topic, "online", True, "status"))
        if self.discovery:
            for key, topic, payload in self.discovery_configs():
                self._publish(_Msg(topic, json.dumps(payload, separators=(",", ":")), True, f"discovery:{key}"))
        with self._lock:
            # The current summary, retained: Home Assistant has values even before the next
            # event, and a broker that lost its store gets them back. A queued newer one wins.
            if not any(m.kind == "summary" for m in self._buf):
                self._buf.appendleft(_Msg(f"{self.base}/summary", json.dumps(self._summary, separators=(",", ":")),
                                          True, "summary"))

    def _flush_loop(self) -> None:
        while not self._closing:
            self._wake.wait(0.5)
            self._wake.clear()
            if self._closing:
                return
            try:
                self._flush()
            except Exception:  # never let the flusher die: the buffer would only grow
                log.exception("mqtt: flushing failed")
                time.sleep(0.5)

    def _flush(self) -> None:
        if not self._connected:
            return
        if self._hello_due:
            self._hello_due = False
            self._hello()
        while self._connected:
            with self._ack_lock:
                if len(self._inflight) >= self.max_inflight:
                    return  # wait for acks (each wakes us)
            with self._lock:
                if not self._buf:
                    return
                m = self._buf.popleft()
            self._publish(m)

    def discovery_configs(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(key, topic, payload) of every Home Assistant discovery config."""
        node = f"formcheck_{self.station_id}"
        device = {
            "identifiers": [node],
            "name": self.device_name,
            "manufacturer": "formcheck",
            "model": "exercise form station",
            "sw_version": __version__,
        }
        out = []
        for key, (name, source, fld, extra) in SENSORS.items():
            payload = {
                "name": name,
                "unique_id": f"{node}_{key}",
                "state_topic": f"{self.base}/{source}",
                "value_template": f"{{{{ value_json.{fld} }}}}",
                "availability_topic": self.status_topic,
                "payload_available": "online",
                "payload_not_available": "offline",
                "device": device,
                **extra,
            }
            out.append((key, f"{self.discovery_prefix}/sensor/{node}/{key}/config", payload))
        return out

    # ---- shutdown -------------------------------------------------------------------------
    def close(self, timeout: float = 2.0) -> None:
        """Flush what can be flushed within ``timeout``, publish ``offline``, disconnect."""
        if self._closing:
            return
        deadline = time.monotonic() + timeout
        # Give queued messages (e.g. the last rep) a chance while the broker is reachable.
        while self._connected and time.monotonic() < deadline:
            with self._lock, self._ack_lock:
                done = not self._buf and not self._inflight
            if done:
                break
            self._wake.set()
            time.sleep(0.02)
        self._closing = True
        self._wake.set()
        self._flusher.join(max(0.0, deadline - time.monotonic()) + 0.1)
        if self._connected:
            info = self.client.publish(self.status_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass
        left = len(self._buf)
        if left:
            log.warning("mqtt: closing with %d messages never delivered (broker unreachable)", left)
        self.client.disconnect()
        self.client.loop_stop()
