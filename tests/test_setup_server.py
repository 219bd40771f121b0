"""The setup page's server: opt-in socket, PIN and session, rate limit, time limit, bad input.

Real sockets on 127.0.0.1, real aiohttp; frames and poses from the packaged demo clip.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("aiohttp")

from formcheck.device.app import config as C
from formcheck.device.app.config import SetupConfig
from formcheck.device.app.placement import save_placement
from formcheck.device.app.setup_feed import SetupFeed
from formcheck.device.app.setup_server import COOKIE, PinGuard, SetupServer
from formcheck.device.events import RepEvent
from formcheck.device.exercises import EXERCISES
from formcheck.device.judging.conditions import ConditionConfig
from formcheck.device.pose.landmarks import Pose
from formcheck.device.sequences import read_sequences

DEMO = Path(__file__).resolve().parents[1] / "device" / "demo" / "demo.npz"
PIN = "424242"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def listening_ports_of_this_process() -> set[int]:
    """TCP ports this process listens on, from /proc (sockets among our fds in LISTEN state)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] == "0A" and f[9] in inodes:  # 0A = LISTEN
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def req(port, method, path, body=None, headers=None, cookie=None):
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = f"{COOKIE}={cookie}"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path, body, h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def login(port, pin=PIN):
    status, headers, body = req(port, "POST", "/login", f"pin={pin}", FORM)
    cookie = None
    if "set-cookie" in headers:
        cookie = headers["set-cookie"].split(";")[0].split("=", 1)[1]
    return status, cookie, body


@pytest.fixture(scope="module")
def demo_pose() -> Pose:
    seq = read_sequences(DEMO)[1]
    return Pose(0.0, seq.landmarks[0], image_size=(1280, 720))


@pytest.fixture
def feed(demo_pose):
    f = SetupFeed(frame_rate=50.0, placement={"exercise": "squat"})
    return f


@pytest.fixture
def server(feed, demo_pose):
    saved = []
    closed = []
    srv = SetupServer(feed, SetupConfig(bind="127.0.0.1", port=0, duration=60, pin_attempts=3,
                                        pin_lockout=60, pin_max_failures=8),
                      pin=PIN, on_save=lambda p: saved.append(p) or "saved", on_close=closed.append)
    srv.start()
    srv.saved, srv.closed = saved, closed
    frame = np.full((720, 1280, 3), 110, np.uint8)
    assert feed.push(frame, demo_pose)
    yield srv
    srv.stop()


def test_no_listening_socket_unless_setup_is_on(feed):
    port = free_port()
    before = listening_ports_of_this_process()
    srv = SetupServer(feed, SetupConfig(bind="127.0.0.1", port=port, duration=30), pin=PIN)
    assert not can_connect(port)  # made, not started: nothing listens
    assert listening_ports_of_this_process() == before
    srv.start()
    try:
        assert can_connect(port)
        assert port in listening_ports_of_this_process()
    finally:
        srv.stop()
    assert not srv.running and not can_connect(port)
    assert listening_ports_of_this_process() == before


def test_nothing_but_the_pin_form_without_a_session(server):
    port = server.port
    status, headers, body = req(port, "GET", "/")
    assert status == 200 and b'name="pin"' in body
    assert b"formcheck_setup" not in body and "set-cookie" not in headers
    for method, path in (("GET", "/api/status"), ("GET", "/api/frame"), ("GET", "/app.js"),
                         ("POST", "/api/save"), ("POST", "/api/close"), ("GET", "/no/such/page"),
                         ("GET", "/../../etc/passwd")):
        status, _, body = req(port, method, path)
        assert status == 401, (method, path, status)
        assert b"\xff\xd8" not in body  # never a JPEG
        status, _, _ = req(port, method, path, cookie="forged-token")
        assert status == 403, (method, path, status)
    assert server.running


def test_pin_buys_a_session_with_the_picture_and_the_status(server, demo_pose):
    status, cookie, _ = login(server.port)
    assert status == 303 and cookie
    status, headers, body = req(server.port, "GET", "/api/frame", cookie=cookie)
    assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    pose = json.loads(headers["x-pose"])
    assert len(pose["lm"]) == 33
    np.testing.assert_allclose(np.array(pose["lm"], float)[:, :2], demo_pose.landmarks[:, :2], atol=1e-3)
    status, _, body = req(server.port, "GET", "/api/status", cookie=cookie)
    st = json.loads(body)
    assert status == 200 and st["framing"]["whole_body"] and st["view"]["view"] in ("front", "oblique", "side")
    assert {c["key"] for c in st["conditions"]} == {"back_neutral", "head_forward", "knees_in_line",
                                                    "heels_down", "rom"}
    assert 0 < st["closes_in"] <= 60
    status, headers, body = req(server.port, "GET", "/", cookie=cookie)
    assert status == 200 and b'id="picture"' in body
    assert "default-src 'self'" in headers["content-security-policy"]
    status, headers, _ = req(server.port, "GET", "/no/such/page", cookie=cookie)
    assert status == 404 and headers["cache-control"] == "no-store"
    status, headers, _ = req(server.port, "PUT", "/api/save", cookie=cookie)
    assert status == 405 and headers["allow"] == "POST"


def test_the_pin_is_good_once(server):
    assert login(server.port)[0] == 303
    status, cookie, body = login(server.port)
    assert status == 403 and cookie is None and b"already used" in body


def test_brute_force_is_rate_limited_then_the_pin_is_void(server):
    port = server.port
    wrong = [f"{i:06d}" for i in range(100) if f"{i:06d}" != PIN]
    for pin in wrong[:2]:
        assert login(port, pin)[0] == 403
    status, _, _ = login(port, wrong[2])  # the third wrong PIN starts the lockout
    assert status == 429
    status, cookie, _ = login(port, PIN)  # even the right PIN waits
    assert status == 429 and cookie is None
    status, headers, _ = req(port, "POST", "/login", f"pin={wrong[3]}", FORM)
    assert status == 429 and int(headers["retry-after"]) > 0
    assert server.guard.failures == 3  # attempts while locked are not even tried


def test_pin_guard_lockout_expires_and_max_failures_voids_it():
    now = [0.0]
    g = PinGuard(attempts=2, lockout=10.0, max_failures=5, pin="111111", clock=lambda: now[0])
    assert [g.check("000000").result for _ in range(2)] == ["wrong", "locked"]
    assert g.check("111111").result == "locked"
    now[0] = 10.5
    assert g.check("000001").result == "wrong"
    assert g.check("000002").result == "locked"
    now[0] = 21.0
    assert g.check("000003").result == "void"  # the fifth wrong PIN voids it
    assert g.check("111111").result == "void" and g.void and g.failures == 5


def test_too_many_wrong_pins_close_the_page(feed):
    closed = []
    srv = SetupServer(feed, SetupConfig(bind="127.0.0.1", port=0, duration=60, pin_attempts=100,
                                        pin_max_failures=3), pin=PIN, on_close=closed.append).start()
    port = srv.port
    for pin in ("000000", "000001", "000002"):
        login(port, pin)
    assert srv.wait_closed(5)
    assert not can_connect(port)
    assert closed and "void" in closed[0]


def test_the_server_closes_at_the_time_limit(feed):
    closed = []
    srv = SetupServer(feed, SetupConfig(bind="127.0.0.1", port=0, duration=1.0), pin=PIN,
                      on_close=closed.append).start()
    port = srv.port
    assert can_connect(port)
    t0 = time.monotonic()
    assert srv.wait_closed(5)
    assert 0.9 <= time.monotonic() - t0 < 3
    assert not can_connect(port) and not srv.running
    assert closed == ["time limit (1 s)"]
    assert not feed.enabled and feed.latest() is None  # the last frame is dropped with it


def test_session_cookie_is_http_only_strict_and_ends_with_the_page(server):
    status, headers, _ = req(server.port, "POST", "/login", f"pin={PIN}", FORM)
    assert status == 303
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in headers["set-cookie"].split(";")}
    assert "httponly" in attrs and attrs["samesite"].lower() == "samesite=strict"
    assert 0 < int(attrs["max-age"].split("=")[1]) <= 60  # no longer than the page is open
    cookie = headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert len(cookie) >= 32


GARBAGE = [
    b"\x00\xff\xfe garbage\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Long: " + b"a" * 100_000 + b"\r\n\r\n",
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n",
    b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\npin=1",
    b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS hello
    os.urandom(4096),
    b"GET / HTTP/1.1\r\n",  # never finished
]


def test_malformed_requests_never_crash_the_server(server):
    port = server.port
    rng = np.random.default_rng(0)
    for blob in GARBAGE + [bytes(rng.integers(0, 256, 512, dtype=np.uint8)) for _ in range(5)]:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            try:
                s.sendall(blob)
                s.shutdown(socket.SHUT_WR)
                s.recv(1024)
            except OSError:
                pass  # the server may hang up on us: fine
    _, cookie, _ = login(server.port)
    # Authenticated but malformed bodies get a clear 400, not a crash.
    json_h = {"Content-Type": "application/json"}
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"'):
        status, _, _ = req(port, "POST", "/api/save", body, json_h, cookie=cookie)
        assert status == 400, body
    status, _, _ = req(port, "POST", "/api/save", b"x" * 100_000, json_h, cookie=cookie)
    assert status == 413
    assert server.running and server.errors == 0
    assert req(port, "GET", "/api/status", cookie=cookie)[0] == 200


def test_cross_site_posts_are_refused(server):
    _, cookie, _ = login(server.port)
    status, _, _ = req(server.port, "POST", "/api/save", b"{}",
                       {"Content-Type": "application/json", "Origin": "http://evil.example"}, cookie=cookie)
    assert status == 403 and not server.saved


def test_save_goes_through_the_config_validation(feed, tmp_path):
    cfg_path = tmp_path / "formcheck.toml"
    cfg_path.write_text("# my station\n[mqtt]\nenabled = true\npassword = \"s3cret\"\n\n"
                        "[camera]\n# the USB camera\nsource = \"0\"\nrotate = 90\n")
    srv = SetupServer(feed, SetupConfig(bind="127.0.0.1", port=0, duration=30), pin=PIN,
                      on_save=lambda p: f"saved to {save_placement(cfg_path, p).path}").start()
    try:
        _, cookie, _ = login(srv.port)
        h = {"Content-Type": "application/json"}
        bad = {"exercise": "jumping_jacks", "rotate": 45, "view": "front", "flip": False}
        status, _, body = req(srv.port, "POST", "/api/save", json.dumps(bad), h, cookie=cookie)
        problems = json.loads(body)["problems"]
        assert status == 400 and any(p.startswith("station.exercise") for p in problems)
        assert any(p.startswith("camera.rotate") for p in problems)
        assert "rotate = 90" in cfg_path.read_text()  # nothing written
        good = {"exercise": "squat", "rotate": 180, "view": "oblique", "flip": True}
        status, _, body = req(srv.port, "POST", "/api/save", json.dumps(good), h, cookie=cookie)
        assert status == 200, body
    finally:
        srv.stop()
    text = cfg_path.read_text()
    assert text.startswith("# my station\n") and 'password = "s3cret"' in text and "# the USB camera" in text
    cfg = C.load(cfg_path)
    assert (cfg.station.exercise, cfg.camera.rotate, cfg.camera.view, cfg.camera.flip) == ("squat", 180, "oblique", True)
    assert cfg.mqtt.password == "s3cret" and cfg.camera.source == "0"
    assert [p.name for p in tmp_path.iterdir()] == ["formcheck.toml"]  # no temporary left


def test_save_into_a_missing_file_and_a_missing_section(tmp_path):
    p = tmp_path / "new.toml"
    cfg = save_placement(p, {"exercise": "deadlift", "view": "side"})
    assert cfg.station.exercise == "deadlift" and C.load(p).camera.view == "side"
    with pytest.raises(C.ConfigError, match="not a placement field"):
        save_placement(p, {"mqtt.password": "x"})


def test_the_feed_keeps_frames_only_while_open_and_at_its_rate(demo_pose):
    now = [0.0]
    feed = SetupFeed(frame_rate=4.0, clock=lambda: now[0])
    frame = np.zeros((48, 64, 3), np.uint8)
    assert not feed.push(frame, demo_pose) and feed.latest() is None  # closed: nothing kept
    feed.enabled = True
    kept = 0
    for i in range(300):  # 10 s at 30 fps
        now[0] = i / 30
        kept += feed.push(frame, demo_pose)
    assert kept == 40
    frame[:] = 255  # the loop reuses or changes its frame: the feed has its own copy
    assert feed.latest()[1].max() == 0
    feed.handle(RepEvent(t=1.0, exercise="squat", rep=3, correct=False, cues=["go deeper"], good=2, bad=1))
    st = feed.status()
    assert (st["reps"], st["good"], st["bad"], st["last"]["cues"]) == (3, 2, 1, ["go deeper"])
    assert st["view"]["source"] == "judge"


@pytest.mark.parametrize("exercise, view, expected", [
    ("barbell_curl", "side", ""),  # every condition seen
    # (a curl's elbows are judged from every view; the trunk swing only from the side)
    ("barbell_curl", "front", "turn the camera 45° to see the back"),
    ("squat", "side", "no single view sees them all: face the camera to see knees instead of heels"),
    # (side lunges: the working knee's angle has no trusted judge; the range is the rep counter's
    # depth, from any view)
    ("side_lunge", "side", "turn the camera 45° to see the other leg"),
    ("squat", "", ""),  # the view is not known yet: nothing to suggest
])
def test_conditions_and_suggestions_follow_the_judges_definitions(exercise, view, expected):
    from formcheck.device.app.setup_feed import judge_conditions_views, suggestion
    from formcheck.device.judging.measures import definitions

    conds = judge_conditions_views(exercise, view)
    assert [c.key for c in conds] == [c.key for c in EXERCISES[exercise].conditions]
    measured = {d.key: d.views for d in definitions(exercise)}
    cfg = ConditionConfig()
    for c in conds:
        cid = f"{exercise}.{c.key}"
        if cid in cfg.measured or cid in cfg.fail_only:
            assert c.judgeable == (bool(view) and view in measured[c.key])
        elif c.key != "rom":  # a model not validated on real people, or unseen: nobody judges it
            assert not c.judgeable and c.views == () and "not judged from any view" in c.reason
        assert c.judgeable or c.reason
    assert suggestion(exercise, view, conds) == expected


def test_a_trusted_model_makes_its_condition_judgeable():
    from formcheck.device.app.setup_feed import judge_conditions_views

    def wrists(cfg):
        return next(c for c in judge_conditions_views("barbell_curl", "front", cfg) if c.key == "wrists_neutral")

    assert not wrists(ConditionConfig()).judgeable
    assert "not validated on real people" in wrists(ConditionConfig()).reason
    assert wrists(ConditionConfig(model_decides=("barbell_curl.wrists_neutral",))).judgeable


def test_the_view_is_the_judges_estimate_over_recent_poses(demo_pose):
    from formcheck.device.app.setup_feed import judge_view
    from formcheck.device.judging.view import estimate_view

    seq = read_sequences(DEMO)[1]
    poses = [Pose(float(t), lm, image_size=(1280, 720)) for t, lm in zip(seq.t[:8], seq.landmarks[:8], strict=True)]
    v = judge_view(poses)
    ref = estimate_view(seq.landmarks[:8], (1280, 720))
    assert (v.view, v.facing) == (ref.view, ref.facing) and v.view
    assert judge_view([Pose.none(0.0)]) is None


@pytest.fixture
def history_server(feed, tmp_path):
    from formcheck.device.outputs.history import History

    h = History(tmp_path / "history.sqlite3")
    for n, (ok, cues) in enumerate([(True, []), (False, ["go deeper"]), (False, ["knees out", "chest up"])], 1):
        h.add(RepEvent(t=float(n), exercise="squat", rep=n, correct=ok, cues=cues, start=n - 1.0, end=float(n)),
              wall=1_700_000_000.0 + n)
    srv = SetupServer(feed, SetupConfig(bind="127.0.0.1", port=0, duration=60), pin=PIN, history=h).start()
    srv.db = h
    yield srv
    srv.stop()
    h.close()


def test_the_history_view_lists_recent_reps_and_stores_corrections(history_server):
    srv, h = history_server, history_server.db
    _, cookie, _ = login(srv.port)
    status, _, body = req(srv.port, "GET", "/api/history", cookie=cookie)
    reps = json.loads(body)["reps"]
    assert status == 200 and [r["rep"] for r in reps] == [3, 2, 1]  # newest first
    assert reps[0]["cues"] == ["knees out", "chest up"] and reps[0]["correct"] is False
    assert reps[2]["correct"] is True and reps[0]["exercise"] == "squat" and reps[0]["wall"] == 1_700_000_003.0
    assert all(r["verdict_ok"] is None for r in reps)
    assert [r["rep"] for r in json.loads(req(srv.port, "GET", "/api/history?limit=1", cookie=cookie)[2])["reps"]] == [3]

    jh = {"Content-Type": "application/json"}
    target = reps[1]["id"]
    status, _, body = req(srv.port, "POST", "/api/history/correct", json.dumps({"id": target, "verdict_ok": False}),
                          jh, cookie=cookie)
    assert status == 200 and json.loads(body)["rep"]["verdict_ok"] is False
    assert h.get(target)["verdict_ok"] is False and h.get(target)["corrected_wall"] is not None
    assert h.get(reps[0]["id"])["verdict_ok"] is None  # only that rep
    status, _, _ = req(srv.port, "POST", "/api/history/correct", json.dumps({"id": target, "verdict_ok": True}),
                       jh, cookie=cookie)
    assert status == 200 and h.get(target)["verdict_ok"] is True  # changed its mind
    listed = json.loads(req(srv.port, "GET", "/api/history", cookie=cookie)[2])["reps"]
    assert [r["verdict_ok"] for r in listed] == [None, True, None]
    # the station keeps writing while the page reads with its own connection
    h.add(RepEvent(t=4.0, exercise="squat", rep=4, correct=True, start=3.0, end=4.0))
    assert json.loads(req(srv.port, "GET", "/api/history", cookie=cookie)[2])["reps"][0]["rep"] == 4


def test_the_history_needs_the_session_and_refuses_malformed_requests(history_server):
    srv, h = history_server, history_server.db
    jh = {"Content-Type": "application/json"}
    first = h.reps().__next__()["id"]
    for method, path, body in (("GET", "/api/history", None),
                               ("POST", "/api/history/correct", json.dumps({"id": first, "verdict_ok": False}))):
        assert req(srv.port, method, path, body, jh)[0] == 401
        assert req(srv.port, method, path, body, jh, cookie="forged")[0] == 403
    _, cookie, _ = login(srv.port)
    for body in (b"{not json", b"[1]", b"\xff\xfe", json.dumps({"id": "1", "verdict_ok": False}),
                 json.dumps({"id": 1.5, "verdict_ok": False}), json.dumps({"id": -3, "verdict_ok": False}),
                 json.dumps({"id": True, "verdict_ok": False}), json.dumps({"id": 10 ** 30, "verdict_ok": False}),
                 json.dumps({"id": first, "verdict_ok": "no"}), json.dumps({"id": first})):
        status, _, _ = req(srv.port, "POST", "/api/history/correct", body, jh, cookie=cookie)
        assert status == 400, body
    for q in ("0", "-1", "abc", "100000", "1e3", ""):
        assert req(srv.port, "GET", f"/api/history?limit={q}", cookie=cookie)[0] == 400, q
    status, _, body = req(srv.port, "POST", "/api/history/correct", json.dumps({"id": 999_999, "verdict_ok": False}),
                          jh, cookie=cookie)
    assert status == 404 and b"no rep 999999" in body
    status, _, _ = req(srv.port, "POST", "/api/history/correct", json.dumps({"id": first, "verdict_ok": False}),
                       {**jh, "Origin": "http://evil.example"}, cookie=cookie)
    assert status == 403
    assert all(r["verdict_ok"] is None for r in h.reps())  # nothing stored by any of them
    assert srv.running and srv.errors == 0


def test_no_history_on_the_station_is_a_clear_answer(server):
    _, cookie, _ = login(server.port)
    status, _, body = req(server.port, "GET", "/api/history", cookie=cookie)
    assert status == 501 and b"no rep history" in body
    status, _, _ = req(server.port, "POST", "/api/history/correct", b'{"id": 1, "verdict_ok": false}',
                       {"Content-Type": "application/json"}, cookie=cookie)
    assert status == 501
