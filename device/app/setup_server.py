"""The setup page's server: opt-in, on the LAN, for a limited time, behind a one-time PIN.

aiohttp on its own event loop in its own thread: the station loop never waits for it and
nothing it does can stop the loop. It serves only what the page needs, from memory: the PIN
form to anyone, everything else only with the session cookie the PIN buys (401 without a
cookie, 403 with a wrong one). Frames are JPEG-encoded here, at the page's rate, never written
to disk. It closes itself after ``setup.duration`` seconds.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..exercises import EXERCISE_IDS
from ..outputs.history import History, read_recent
from ..pose.landmarks import EDGES
from .config import ConfigError, SetupConfig
from .setup_feed import VIEWS, SetupFeed, judge_conditions_views

log = logging.getLogger(__name__)

COOKIE = "formcheck_setup"
HISTORY_SHOWN = 30  # reps the history view lists by default: a few sets
HISTORY_MAX = 500  # the most one request may ask for
PIN_DIGITS = 6
PUBLIC = {("GET", "/"), ("GET", "/setup.css"), ("POST", "/login")}
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # "same-origin", not "no-referrer": with the latter browsers send "Origin: null" on the
    # page's own POSTs, which the cross-site check must refuse.
    "Referrer-Policy": "same-origin",
    # Everything comes from the station itself; the picture is drawn from a blob: URL.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
}


class SetupError(RuntimeError):
    """The setup server cannot start (address in use, aiohttp not installed)."""


@dataclass
class PinCheck:
    result: str  # "ok", "wrong", "locked", "void"
    retry_after: float = 0.0
    left: int = 0  # wrong PINs left before the next lockout


class PinGuard:
    """A one-time PIN: good once; ``attempts`` wrong PINs lock it for ``lockout`` seconds;
    ``max_failures`` wrong PINs in all void it. Counted for all clients together, so trying
    from many addresses gains nothing."""

    def __init__(self, attempts: int, lockout: float, max_failures: int, pin: str | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.pin = pin or f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"
        self.attempts, self.lockout, self.max_failures = attempts, lockout, max_failures
        self.clock = clock
        self.failures = 0  # in all
        self._streak = 0  # since the last lockout
        self._locked_until = 0.0
        self.used = False

    @property
    def void(self) -> bool:
        return self.failures >= self.max_failures

    def check(self, pin: str) -> PinCheck:
        now = self.clock()
        if self.void or self.used:
            return PinCheck("void")
        if now < self._locked_until:
            return PinCheck("locked", self._locked_until - now)
        if hmac.compare_digest(pin.encode(), self.pin.encode()):
            self.used = True
            return PinCheck("ok")
        self.failures += 1
        self._streak += 1
        if self.void:
            return PinCheck("void")
        if self._streak >= self.attempts:
            self._streak = 0
            self._locked_until = now + self.lockout
            return PinCheck("locked", self.lockout)
        return PinCheck("wrong", left=self.attempts - self._streak)


def lan_address() -> str:
    """This box's address on its default route (no packet is sent), else 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def _page(name: str) -> bytes:
    return resources.files("formcheck.device.app").joinpath("setup_page", name).read_bytes()


def encode_jpeg(frame_rgb, width: int, quality: int) -> bytes:
    """The frame scaled down to ``width`` (never up) as JPEG bytes."""
    import cv2

    h, w = frame_rgb.shape[:2]
    if w > width:
        frame_rgb = cv2.resize(frame_rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


SaveCallback = Callable[[dict], str]  # placement -> message; raises ConfigError when invalid
REP_FIELDS = ("id", "wall", "exercise", "rep", "correct", "cues", "verdict_ok", "corrected_wall")


class SetupServer:
    """Start with :meth:`start` (returns once listening), stop with :meth:`stop` or let it
    time out. ``on_pin(pin, url)`` is called once listening (show it on the display, log it);
    ``on_save(placement)`` when the page saves; ``on_close(reason)`` when it has closed.
    ``history`` (a :class:`History`) gives the page the recent reps and takes corrections."""

    def __init__(self, feed: SetupFeed, cfg: SetupConfig | None = None, *,
                 on_pin: Callable[[str, str], None] | None = None, on_save: SaveCallback | None = None,
                 on_close: Callable[[str], None] | None = None, pin: str | None = None,
                 clock: Callable[[], float] = time.monotonic, history: History | None = None):
        self.feed = feed
        self.history = history
        self.cfg = cfg = cfg or SetupConfig()
        self.on_pin, self.on_save, self.on_close = on_pin, on_save, on_close
        self.clock = clock
        self.guard = PinGuard(cfg.pin_attempts, cfg.pin_lockout, cfg.pin_max_failures, pin, clock)
        self.port: int | None = None
        self.url = ""
        self.closes_at = 0.0
        self.close_reason = ""
        self._token: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = threading.Event()
        self._jpeg: tuple[int, bytes] | None = None
        self._pages: dict[str, bytes] = {}  # read at start: the page's files, served from memory
        self._stop_future: asyncio.Future | None = None
        self.requests = 0
        self.errors = 0

    # ---- life cycle ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._closed.is_set()

    def remaining(self) -> float:
        return max(0.0, self.closes_at - self.clock()) if self.running else 0.0

    def start(self, timeout: float = 10.0) -> SetupServer:
        try:
            import aiohttp  # noqa: F401
        except ImportError as e:
            raise SetupError("the setup page needs aiohttp: pip install 'formcheck[setup]'") from e
        self._pages = {name: _page(name) for name in ("index.html", "login.html", "app.js", "setup.css")}
        started = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(started, failure), name="setup-server",
                                        daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise SetupError("the setup server did not start in time")
        if failure:
            raise SetupError(f"cannot open the setup page on {self.cfg.bind}:{self.cfg.port}: "
                             f"{failure[0]}") from failure[0]
        self.feed.enabled = True
        d = self.cfg.duration
        log.info("setup page open for %s at %s  PIN %s", f"{d / 60:g} min" if d >= 60 else f"{d:g} s",
                 self.url, self.guard.pin)
        if self.on_pin:
            try:
                self.on_pin(self.guard.pin, self.url)
            except Exception:
                log.exception("showing the setup PIN failed")
        return self

    def stop(self, reason: str = "stopped", timeout: float = 5.0) -> None:
        loop = self._loop
        if loop is not None and not self._closed.is_set():
            try:
                loop.call_soon_threadsafe(self._request_close, reason)
            except RuntimeError:  # the loop already closed
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._closed.wait(timeout)

    def _request_close(self, reason: str) -> None:
        if not self.close_reason:
            self.close_reason = reason
        if self._stop_future is not None and not self._stop_future.done():
            self._stop_future.set_result(None)

    def _run(self, started: threading.Event, failure: list) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(started, failure))
        except BaseException as e:  # never into the station
            if not started.is_set():
                failure.append(e)
                started.set()
            else:
                log.exception("the setup server failed")
                self.close_reason = self.close_reason or f"failed: {e}"
        finally:
            self.feed.close()
            loop.close()
            if started.is_set() and not failure:
                log.info("setup page closed (%s); %d requests, %d errors", self.close_reason,
                         self.requests, self.errors)
                if self.on_close:
                    try:
                        self.on_close(self.close_reason)
                    except Exception:
                        log.exception("setup on_close failed")
            self._closed.set()

    async def _serve(self, started: threading.Event, failure: list) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=16 * 1024, middlewares=[self._guard_mw_factory()])
        app.router.add_get("/", self._index)
        app.router.add_get("/setup.css", self._static)
        app.router.add_get("/app.js", self._static)
        app.router.add_post("/login", self._login)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/api/frame", self._frame)
        app.router.add_post("/api/save", self._save)
        app.router.add_get("/api/history", self._history)
        app.router.add_post("/api/history/correct", self._correct)
        app.router.add_post("/api/close", self._close_now)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, keepalive_timeout=30,
                               max_line_size=4096, max_field_size=4096, max_headers=64, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.cfg.bind, self.cfg.port, reuse_address=True)
            await site.start()
            self.port = runner.addresses[0][1] if runner.addresses else self.cfg.port
            host = lan_address() if self.cfg.bind in ("0.0.0.0", "", "::") else self.cfg.bind
            self.url = f"http://{host}:{self.port}/"
            self.closes_at = self.clock() + self.cfg.duration
            self._stop_future = asyncio.get_running_loop().create_future()
            if self.close_reason:  # a stop asked for while it was starting
                self._stop_future.set_result(None)
            started.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._stop_future), self.cfg.duration)
            except TimeoutError:
                self.close_reason = self.close_reason or f"time limit ({self.cfg.duration:g} s)"
        finally:
            await runner.cleanup()

    # ---- access -------------------------------------------------------------------------
    def _authorised(self, request) -> str:
        """"ok", "none" (no cookie) or "bad" (a cookie that is not this session's)."""
        got = request.cookies.get(COOKIE)
        if not got:
            return "none"
        tok = self._token
        if tok and hmac.compare_digest(got.encode(), tok.encode()):
            return "ok"
        return "bad"

    @staticmethod
    def _same_origin(request) -> bool:
        """POSTs from another site are refused (the cookie is SameSite=Strict as well)."""
        origin = request.headers.get("Origin")
        if origin is None or origin == "null":
            return origin is None
        return urlsplit(origin).netloc == request.host

    def _guard_mw_factory(self):
        from aiohttp import web

        @web.middleware
        async def guard(request, handler):
            self.requests += 1
            try:
                if (request.method, request.path) not in PUBLIC:
                    auth = self._authorised(request)
                    if auth != "ok":
                        status = 401 if auth == "none" else 403
                        return self._json({"error": "enter the PIN first" if auth == "none"
                                           else "this session is not valid: enter the PIN again"}, status)
                if request.method == "POST" and not self._same_origin(request):
                    return self._json({"error": "cross-site request refused"}, 403)
                resp = await handler(request)
            except web.HTTPException as e:  # 404, 405, 413 ...: the same JSON and headers as ours
                resp = self._json({"error": e.reason}, e.status)
                if "Allow" in e.headers:
                    resp.headers["Allow"] = e.headers["Allow"]
            except Exception:
                self.errors += 1
                log.exception("setup page request %s %s failed", request.method, request.path)
                resp = self._json({"error": "internal error"}, 500)
            resp.headers.update(HEADERS)
            return resp
        return guard

    @staticmethod
    def _json(data: Any, status: int = 200):
        from aiohttp import web

        return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, allow_nan=False))

    # ---- handlers -----------------------------------------------------------------------
    def _html(self, name: str, status: int = 200, message: str = ""):
        from aiohttp import web

        body = self._pages[name]
        if name == "login.html":
            body = body.replace(b"{{message}}", _escape(message).encode())
        return web.Response(body=body, status=status, content_type="text/html", charset="utf-8")

    async def _index(self, request):
        if self._authorised(request) == "ok":
            return self._html("index.html")
        return self._html("login.html")

    async def _static(self, request):
        from aiohttp import web

        name = request.path.lstrip("/")
        ctype = "text/css" if name.endswith(".css") else "text/javascript"
        return web.Response(body=self._pages[name], content_type=ctype, charset="utf-8")

    async def _login(self, request):
        from aiohttp import web

        form = await request.post()
        pin = str(form.get("pin", "")).strip()
        check = self.guard.check(pin)
        if check.result == "ok":
            self._token = secrets.token_urlsafe(32)
            log.info("setup page: PIN accepted from %s", request.remote)
            resp = web.Response(status=303, headers={"Location": "/"})
            resp.set_cookie(COOKIE, self._token, max_age=max(1, int(self.remaining())), path="/",
                            httponly=True, samesite="Strict")
            return resp
        log.warning("setup page: %s PIN from %s (%d wrong in all)", check.result, request.remote,
                    self.guard.failures)
        if check.result == "locked":
            resp = self._html("login.html", 429, f"Too many wrong PINs: wait {check.retry_after:.0f} s.")
            resp.headers["Retry-After"] = str(max(1, round(check.retry_after)))
            return resp
        if check.result == "void":
            if self.guard.void:
                asyncio.get_running_loop().call_soon(
                    self._request_close, f"PIN void after {self.guard.failures} wrong attempts")
                return self._html("login.html", 403, "Too many wrong PINs: setup closed. "
                                  "Open it again on the station.")
            return self._html("login.html", 403, "This PIN was already used. Open setup again on the "
                              "station for a new one.")
        return self._html("login.html", 403, f"Wrong PIN ({check.left} tries before a pause).")

    async def _status(self, request):
        st = self.feed.status()
        st["closes_in"] = round(self.remaining())
        st["options"] = {"exercises": list(EXERCISE_IDS), "views": list(VIEWS),
                         "rotations": [0, 90, 180, 270], "edges": [list(e) for e in EDGES]}
        return self._json(st)

    async def _frame(self, request):
        from aiohttp import web

        latest = self.feed.latest()
        if latest is None:
            return web.Response(status=204)
        seq, frame, pose = latest
        if self._jpeg is None or self._jpeg[0] != seq:
            if frame is None:  # a landmark clip: the skeleton on a plain picture of its size
                w, h = pose.image_size if pose is not None and all(pose.image_size) else (640, 480)
                frame = np.full((h, w, 3), 48, np.uint8)
            self._jpeg = (seq, encode_jpeg(frame, self.cfg.frame_width, self.cfg.jpeg_quality))
        lm = None
        if pose is not None and pose.landmarks is not None:
            lm = [[_r(x), _r(y), _r(v)] for x, y, _z, v in pose.landmarks.tolist()]
        resp = web.Response(body=self._jpeg[1], content_type="image/jpeg")
        resp.headers["X-Pose"] = json.dumps({"seq": seq, "lm": lm}, separators=(",", ":"))
        return resp

    @staticmethod
    async def _object(request) -> dict | None:
        """The request's JSON body when it is an object, else None."""
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None

    async def _save(self, request):
        if self.on_save is None:
            return self._json({"error": "saving is not available here"}, 501)
        data = await self._object(request)
        if data is None:
            return self._json({"error": "expected a JSON object"}, 400)
        placement = {k: data[k] for k in ("exercise", "view", "rotate", "flip") if k in data}
        try:
            message = self.on_save(placement)
        except ConfigError as e:
            return self._json({"error": str(e), "problems": e.problems}, 400)
        except OSError as e:
            log.error("setup page: saving the placement failed: %s", e)
            return self._json({"error": f"cannot write the config: {e}"}, 500)
        self.feed.placement.update(placement)
        return self._json({"ok": True, "message": message})

    async def _history(self, request):
        if self.history is None:
            return self._json({"error": "this station keeps no rep history"}, 501)
        raw = request.query.get("limit", str(HISTORY_SHOWN))
        if not raw.isdigit() or not 1 <= int(raw) <= HISTORY_MAX:
            return self._json({"error": f"limit: expected a whole number from 1 to {HISTORY_MAX}"}, 400)
        # off this loop: SQLite's own connection in a worker thread (the station never waits for it)
        rows = await asyncio.to_thread(read_recent, self.history.path, int(raw))
        return self._json({"reps": [{k: r.get(k) for k in REP_FIELDS} for r in rows]})

    async def _correct(self, request):
        """``{"id": rep id, "verdict_ok": false}`` marks that rep's verdict wrong (true: right)."""
        if self.history is None:
            return self._json({"error": "this station keeps no rep history"}, 501)
        data = await self._object(request)
        if data is None:
            return self._json({"error": "expected a JSON object"}, 400)
        rid, ok = data.get("id"), data.get("verdict_ok")
        if type(rid) is not int or not 0 < rid < 2 ** 63:
            return self._json({"error": "id: expected a rep id (a positive whole number)"}, 400)
        if type(ok) is not bool:
            return self._json({"error": "verdict_ok: expected true or false"}, 400)
        # History serialises its writers with a lock: wait for it in a worker thread, not here
        rep = await asyncio.to_thread(self.history.correct, rid, ok)
        if rep is None:
            return self._json({"error": f"no rep {rid} in the history"}, 404)
        log.info("setup page: %s rep %d (history id %d) marked %s", rep["exercise"], rep["rep"], rid,
                 "right" if ok else "wrong")
        return self._json({"ok": True, "rep": {k: rep.get(k) for k in REP_FIELDS}})

    async def _close_now(self, request):
        asyncio.get_running_loop().call_later(0.2, self._request_close, "closed from the page")
        return self._json({"ok": True})


def _r(v: float) -> float | None:
    return round(v, 4) if v == v and abs(v) != float("inf") else None


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class SetupController:
    """The station's handle on the setup page: opens it on demand (``--setup``, the button),
    one server at a time, each with a new PIN; hands the loop's frames and events to the feed;
    saves the placement into the config file and tells the station. Never raises into the
    station: a page that cannot open is logged."""

    def __init__(self, cfg, *, config_path: str | None = None,
                 on_placement: Callable[[Any], None] | None = None,
                 on_pin: Callable[[str, str], None] | None = None,
                 on_close: Callable[[str], None] | None = None,
                 view_provider=None, conditions_provider=None, history: History | None = None):
        from .placement import placement_of

        self.cfg = cfg
        self.config_path = config_path
        self.on_placement, self.on_pin, self.on_close = on_placement, on_pin, on_close
        self.history = history
        if conditions_provider is None:  # what the judge decides with this config's [conditions]
            conditions_provider = partial(judge_conditions_views, config=cfg.conditions)
        self.feed = SetupFeed(cfg.setup.frame_rate, view_provider=view_provider,
                              conditions_provider=conditions_provider, placement=placement_of(cfg))
        self.server: SetupServer | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self.server is not None and self.server.running

    def open(self) -> SetupServer | None:
        """Open the page (or keep the one that is open); None when it cannot open."""
        with self._lock:
            if self.is_open:
                log.info("the setup page is already open at %s (PIN %s)", self.server.url, self.server.guard.pin)
                return self.server
            server = SetupServer(self.feed, self.cfg.setup, on_pin=self.on_pin, on_save=self._save,
                                 on_close=self.on_close, history=self.history)
            try:
                self.server = server.start()
            except SetupError as e:
                log.error("%s", e)
                self.server = None
            return self.server

    def close(self, reason: str = "station stopping") -> None:
        with self._lock:
            if self.server is not None:
                self.server.stop(reason)
            self.feed.close()

    def push(self, frame_rgb, pose) -> None:
        """From the loop: constant time, nothing kept unless the page is open."""
        self.feed.push(frame_rgb, pose)

    def handle(self, event) -> None:
        self.feed.handle(event)

    def _save(self, placement: dict) -> str:
        from . import config as C
        from .placement import save_placement

        path = self.config_path or str(C.SYSTEM_CONFIG)
        new = save_placement(path, placement)
        log.info("setup page saved the placement to %s: %s", path, placement)
        if self.on_placement is not None:
            self.on_placement(new)
        return f"saved to {path}; the station uses it now"
