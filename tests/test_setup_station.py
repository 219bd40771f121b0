"""The setup page inside the station: opt-in, never in the loop's way, the button, the display,
saving a placement without a restart, and formcheck-doctor's report."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

from test_setup_server import can_connect, listening_ports_of_this_process, login, req

from formcheck.device.app import config as C
from formcheck.device.app.build import EXIT_OK
from formcheck.device.app.doctor import FAIL, OK, WARN, check_placement, check_setup
from formcheck.device.app.station import Station
from formcheck.device.events import SetupEvent

DEMO = Path(__file__).resolve().parents[1] / "device" / "demo" / "demo.npz"


def station_config(tmp_path: Path, **over) -> C.Config:
    path = tmp_path / "formcheck.toml"
    path.write_text('[gpio]\nenabled = false\n[display]\nenabled = false\n'
                    '[setup]\nbind = "127.0.0.1"\nport = 0\nduration = 120.0\n')
    cfg = C.load(path)
    o = {"camera.source": str(DEMO), "camera.realtime": False, "logging.json": False,
         "logging.stats_interval": 0.0}
    o.update(over)
    return replace(C.apply_overrides(cfg, o), path=str(path))


def run_station(cfg, setup: bool = False, during=None, duration: float | None = None):
    st = Station(cfg, stream=open(os.devnull, "w"))
    st.setup()
    if setup:
        srv = st.setup_page.open()
        assert srv is not None and srv.running
    result = {}
    loop = threading.Thread(target=lambda: result.setdefault("rc", st.run(duration=duration)))
    loop.start()
    if during is not None:
        during(st)
    loop.join(120)
    assert not loop.is_alive()
    return st, result["rc"]


def test_the_station_listens_on_nothing_without_setup(tmp_path):
    before = listening_ports_of_this_process()
    seen = []
    st, rc = run_station(station_config(tmp_path, **{"camera.realtime": True}),
                         during=lambda st: [seen.append(listening_ports_of_this_process()), time.sleep(0.3),
                                            seen.append(listening_ports_of_this_process())],
                         duration=2.0)
    assert rc == EXIT_OK and st.frames > 10
    assert all(s == before for s in seen)
    assert not st.setup_page.is_open and st.setup_page.feed.latest() is None


def test_garbage_at_the_open_page_never_stops_counting(tmp_path):
    cfg = station_config(tmp_path)
    base, rc0 = run_station(cfg)
    assert rc0 == EXIT_OK and base.good + base.bad >= 1

    def attack(st):
        port = st.setup_page.server.port
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end and st.setup_page.is_open:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(os.urandom(512) + b"\r\n\r\n")
                    s.recv(256)
            except OSError:
                pass
            try:
                req(port, "POST", "/login", "pin=000000", {"Content-Type": "application/x-www-form-urlencoded"})
            except OSError:
                pass

    st, rc = run_station(cfg, setup=True, during=attack)
    assert rc == EXIT_OK
    assert (st.good, st.bad, st.frames) == (base.good, base.bad, base.frames)
    assert st.pose_fail.count == 0 and st.judge_fail.count == 0
    assert not st.setup_page.is_open  # closed with the station


def test_setup_events_reach_the_outputs_and_the_page_sees_the_loop(tmp_path):
    cfg = station_config(tmp_path, **{"camera.realtime": True})
    seen = []

    class Recorder:
        name = "recorder"

        def handle(self, event):
            seen.append(event)

        def close(self):
            pass

    from formcheck.device.outputs.fanout import Outputs

    st = Station(cfg, outputs=Outputs([Recorder()]))
    st.setup()
    st.open_setup()
    loop = threading.Thread(target=st.run, kwargs={"duration": 20.0})
    loop.start()
    try:
        assert _wait(lambda: st.setup_page.is_open, 10)
        srv = st.setup_page.server
        _, cookie, _ = login(srv.port, srv.guard.pin)
        assert _wait(lambda: req(srv.port, "GET", "/api/frame", cookie=cookie)[0] == 200, 5)
        _, headers, body = req(srv.port, "GET", "/api/frame", cookie=cookie)
        assert body[:2] == b"\xff\xd8" and json.loads(headers["x-pose"])["lm"]  # a landmark clip: skeleton

        def status():
            return json.loads(req(srv.port, "GET", "/api/status", cookie=cookie)[2])

        assert _wait(lambda: status()["state"] == "tracking", 5)  # the judge's events reach the page
        assert status()["framing"]["person"]
        assert req(srv.port, "POST", "/api/close", cookie=cookie)[0] == 200  # the page's Done
        assert _wait(lambda: any(isinstance(e, SetupEvent) and not e.open for e in seen), 5)
    finally:
        st.stop()
        loop.join(30)
    opened = [e for e in seen if isinstance(e, SetupEvent) and e.open]
    closed = [e for e in seen if isinstance(e, SetupEvent) and not e.open]
    assert len(opened) == 1 and opened[0].pin and opened[0].url.startswith("http://127.0.0.1:")
    assert "pin" not in opened[0].to_dict() and opened[0].pin not in opened[0].to_json()
    assert len(closed) == 1 and closed[0].reason == "closed from the page"


def test_a_saved_placement_is_used_without_restart(tmp_path):
    cfg = station_config(tmp_path, **{"camera.realtime": True, "station.exercise": "squat"})
    st = Station(cfg, stream=open(os.devnull, "w"))
    st.setup()
    srv = st.setup_page.open()
    loop = threading.Thread(target=st.run, kwargs={"duration": 3.0})
    loop.start()
    try:
        _, cookie, _ = login(srv.port, srv.guard.pin)
        body = json.dumps({"exercise": "deadlift", "view": "side", "rotate": 180, "flip": True})
        status, _, resp = req(srv.port, "POST", "/api/save", body, {"Content-Type": "application/json"},
                              cookie=cookie)
        assert status == 200, resp
        assert _wait(lambda: st.judge.exercise == "deadlift", 3)
    finally:
        loop.join(30)
    assert (st.source.rotate, st.source.flip) == (180, True)
    assert (st.cfg.camera.view, st.cfg.station.exercise) == ("side", "deadlift")
    assert st.cfg.camera.source == str(DEMO)  # the run's own settings stay
    saved = C.load(cfg.path)
    assert (saved.station.exercise, saved.camera.rotate, saved.camera.flip, saved.camera.view) == \
        ("deadlift", 180, True, "side")
    assert not saved.gpio.enabled  # the rest of the file is untouched


def test_holding_the_button_resets_then_opens_setup():
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from formcheck.device.outputs.gpio import Signals

    f = MockFactory()
    old = Device.pin_factory
    Device.pin_factory = f
    calls = []
    s = Signals(pin_factory=f, on_next_exercise=lambda: calls.append("next"),
                on_reset=lambda: calls.append("reset"), on_setup=lambda: calls.append("setup"),
                hold_time=0.2, setup_hold=0.6, bounce_time=None)
    try:
        button = f.pin(23)
        button.drive_low()
        assert _wait(lambda: calls == ["reset"], 1)
        assert _wait(lambda: calls == ["reset", "setup"], 2)
        time.sleep(0.5)  # held on: setup is not opened again
        button.drive_high()
        assert calls == ["reset", "setup"]
        button.drive_low()
        time.sleep(0.3)  # a reset-length hold only resets
        button.drive_high()
        time.sleep(0.1)
        assert calls == ["reset", "setup", "reset"]
    finally:
        s.close()
        f.reset()
        Device.pin_factory = old


def test_the_display_shows_the_pin_while_setup_is_open():
    from luma.core.device import dummy

    from formcheck.device.outputs.display import Display

    d = Display(device=dummy(width=128, height=64, mode="1"))
    d.handle(SetupEvent(t=0, open=True, url="http://192.168.1.20:8080/", pin="482913"))
    assert "482913" in d.view.setup and "192.168.1.20:8080" in d.view.setup
    shown = d.image().copy()
    d.handle(SetupEvent(t=1, open=False, reason="time limit"))
    assert d.view.setup == "" and d.image().tobytes() != shown.tobytes()


def test_doctor_reports_the_setup_page_and_the_placement(tmp_path):
    cfg = station_config(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    closed = check_setup(replace(cfg, setup=replace(cfg.setup, port=free)))
    assert closed.status == OK and "closed" in closed.detail and not can_connect(free)

    from formcheck.device.app.setup_feed import SetupFeed
    from formcheck.device.app.setup_server import SetupServer

    srv = SetupServer(SetupFeed(), replace(cfg.setup, port=free)).start()
    try:
        opened = check_setup(replace(cfg, setup=replace(cfg.setup, port=free)))
        assert opened.status == OK and "open now" in opened.detail
    finally:
        srv.stop()
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = check_setup(replace(cfg, setup=replace(cfg.setup, port=other.getsockname()[1])))
        assert taken.status == WARN and "taken" in taken.detail

    unsaved = check_placement(cfg)
    assert unsaved.status == WARN and "never saved" in unsaved.detail
    side = check_placement(C.apply_overrides(cfg, {"camera.view": "side", "station.exercise": "squat"}))
    assert side.status == WARN and "not knees_in_line" in side.detail and "face the camera" in side.fix
    curl = check_placement(C.apply_overrides(cfg, {"camera.view": "side", "station.exercise": "barbell_curl"}))
    assert curl.status == OK and "elbows_still" in curl.detail
    assert FAIL not in (closed.status, side.status, curl.status)


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    return bool(cond())


def test_the_page_lists_the_stations_own_reps_and_corrects_them(tmp_path):
    from formcheck.device.outputs.history import read_recent

    db = tmp_path / "history.sqlite3"
    cfg = station_config(tmp_path, **{"camera.realtime": True, "history.path": str(db),
                                      "history.personal": str(tmp_path / "personal.json")})
    st = Station(cfg, stream=open(os.devnull, "w"))
    st.setup()
    st.open_setup()
    loop = threading.Thread(target=st.run, kwargs={"duration": 30.0})
    loop.start()
    try:
        assert _wait(lambda: st.setup_page.is_open, 10)
        srv = st.setup_page.server
        _, cookie, _ = login(srv.port, srv.guard.pin)

        def reps():
            return json.loads(req(srv.port, "GET", "/api/history", cookie=cookie)[2])["reps"]

        assert _wait(lambda: len(reps()) >= 1, 25)  # reps the running station wrote
        first = reps()[-1]
        status, _, body = req(srv.port, "POST", "/api/history/correct",
                              json.dumps({"id": first["id"], "verdict_ok": False}),
                              {"Content-Type": "application/json"}, cookie=cookie)
        assert status == 200, body
    finally:
        st.stop()
        loop.join(30)
    stored = {r["id"]: r for r in read_recent(db, 500)}
    assert stored[first["id"]]["verdict_ok"] is False and stored[first["id"]]["rep"] == first["rep"]
