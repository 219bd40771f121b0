"""``formcheck-station``: the daemon. Camera → pose → judge → LEDs, buzzer, display, JSON, MQTT.

One loop, one frame at a time: take the newest frame from the source (capture runs in its own
thread and drops what the loop cannot keep up with), estimate the pose, give it to the judge,
hand the judge's events to every output. Nothing a frame, a pose backend, the judge or an
output does can stop the loop: failures are caught, counted and logged at a bounded rate.

Service behaviour (systemd ``Type=notify``): ``READY=1`` once the models and the pose
estimator are loaded and the first frame arrived (or ``station.ready_timeout`` passed with the
camera still being retried); ``WATCHDOG=1`` from the frame loop, so a stuck loop gets the
service restarted; ``STOPPING=1`` on SIGTERM/SIGINT, after which the current frame is
finished, queued events are delivered, and camera, GPIO (LEDs off), display and MQTT are
released. Exit codes: 0 clean stop or end of input, 2 configuration or usage error, 1 fatal.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import queue
import signal
import socket
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..events import RepEvent, StatsEvent
from ..pose.landmarks import NUM_LANDMARKS, Pose, PoseError
from .config import Config, ConfigError

log = logging.getLogger(__name__)

DEMO_CLIP = Path(__file__).resolve().parents[1] / "demo" / "demo.npz"
EXIT_OK, EXIT_FATAL, EXIT_USAGE = 0, 1, 2
SLOW_FAILURE_LOG_S = 30.0  # at most one log line per failing stage per this many seconds


class StartupError(Exception):
    """The station cannot start; ``code`` is the exit code (2 usage/config, 1 fatal)."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def rss_mb() -> float:
    """Resident memory of this process in MB, from /proc/self/statm (0 where absent)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


class _FailureLog:
    """Logs a failing stage's first exception with its traceback, then one line per period."""

    def __init__(self, what: str, period: float = SLOW_FAILURE_LOG_S):
        self.what = what
        self.period = period
        self.count = 0
        self._unlogged = 0
        self._last = -math.inf

    def __call__(self, exc: BaseException) -> None:
        self.count += 1
        self._unlogged += 1
        now = time.monotonic()
        if self.count == 1:
            log.error("%s failed; the station goes on", self.what, exc_info=exc)
            self._last, self._unlogged = now, 0
        elif now - self._last >= self.period:
            log.error("%s: %d more failures (%d in all), latest %s: %s",
                      self.what, self._unlogged, self.count, type(exc).__name__, exc)
            self._last, self._unlogged = now, 0


def sanitize_pose(pose: Pose) -> Pose:
    """Make a backend's pose safe to judge: wrong shapes become "no person", non-finite
    coordinates become missing landmarks (visibility 0), a pose with no finite joint none."""
    lm = pose.landmarks
    if lm is None:
        return pose
    lm = np.asarray(lm, dtype=np.float32)
    if lm.shape != (NUM_LANDMARKS, 4):
        return Pose.none(pose.t, pose.image_size)
    finite = np.isfinite(lm[:, :2]).all(axis=1)
    if finite.all() and np.isfinite(lm[:, 2:]).all():
        return pose
    if not finite.any():
        return Pose.none(pose.t, pose.image_size)
    lm = lm.copy()
    # A bad depth or visibility alone does not lose a joint; bad x/y does.
    lm[:, 2] = np.where(np.isfinite(lm[:, 2]), lm[:, 2], 0.0)
    lm[:, 3] = np.where(np.isfinite(lm[:, 3]), lm[:, 3], 0.0)
    lm[~finite, :3] = np.nan
    lm[~finite, 3] = 0.0
    score = pose.score if np.isfinite(pose.score) else 0.0
    return Pose(t=pose.t, landmarks=lm, image_size=pose.image_size, score=score, extra=pose.extra)


# ---- building the parts ---------------------------------------------------------------------

def _station_id(cfg: Config) -> str:
    if cfg.mqtt.station_id:
        return cfg.mqtt.station_id
    host = "".join(c if c.isalnum() or c in "_-" else "-" for c in socket.gethostname())
    return host or "station"


def make_pin_factory(name: str):
    """A gpiozero pin factory by config name ("" = gpiozero's own choice)."""
    if not name:
        return None
    import importlib

    module, cls = {
        "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory"),
        "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
        "pigpio": ("gpiozero.pins.pigpio", "PiGPIOFactory"),
        "native": ("gpiozero.pins.native", "NativeFactory"),
        "mock": ("gpiozero.pins.mock", "MockFactory"),
    }[name]
    return getattr(importlib.import_module(module), cls)()


def build_outputs(cfg: Config, *, on_next_exercise: Callable[[], None], on_reset: Callable[[], None],
                  pin_factory: Any = None, stream=None, display_device: Any = None):
    """The fan-out with every enabled output. An output whose hardware is absent is logged
    once and left out (GPIO off a Pi, no I2C bus); one that exists but fails later is
    isolated and re-created by :class:`~formcheck.device.outputs.fanout.Outputs`."""
    from ..outputs.fanout import ConsoleOutput, JsonLinesOutput, Outputs

    outputs = Outputs(log_interval=SLOW_FAILURE_LOG_S)
    if cfg.logging.json:
        outputs.add(JsonLinesOutput(stream))
    outputs.add(ConsoleOutput())  # readable lines in the journal

    if cfg.gpio.enabled:
        from ..outputs.gpio import SignalPins, Signals

        g = cfg.gpio
        pins = SignalPins(green=g.green_pin, red=g.red_pin, amber=g.amber_pin,
                          buzzer=g.buzzer_pin if g.buzzer else None, button=g.button_pin)
        try:
            # gpiozero warns once per pin factory it passes over; the one line below says it all.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                factory_obj = pin_factory if pin_factory is not None else make_pin_factory(g.pin_factory)

                def signals_factory():
                    return Signals(pins, pin_factory=factory_obj, on_next_exercise=on_next_exercise,
                                   on_reset=on_reset, hold_time=g.long_press)

                signals = signals_factory()
            outputs.add(signals, factory=signals_factory, name="signals")
        except Exception as e:
            log.warning("GPIO unavailable, running without LEDs, buzzer and button: %s", e)

    if cfg.display.enabled:
        d = cfg.display
        bus = Path(f"/dev/i2c-{d.port}")
        if display_device is None and not bus.exists():
            log.warning("display: no I2C bus %s (enable I2C with raspi-config); running without the "
                        "display", bus)
        else:
            from ..outputs.display import Display

            try:
                outputs.add(Display(driver=d.driver, port=d.port, address=d.address, rotate=d.rotate // 90,
                                    width=d.width, height=d.height, device=display_device))
            except Exception as e:
                log.warning("display unavailable: %s", e)

    if cfg.mqtt.enabled:
        from ..outputs.mqtt import MqttOutput

        m = cfg.mqtt
        try:
            outputs.add(MqttOutput(_station_id(cfg), m.host, m.port, topic_prefix=m.topic,
                                   discovery=m.discovery, discovery_prefix=m.discovery_prefix,
                                   username=m.username or None, password=m.password or None,
                                   tls=m.tls, keepalive=m.keepalive))
        except Exception as e:
            log.warning("MQTT unavailable: %s", e)
    return outputs


def load_models(cfg: Config) -> list:
    from ..judging.bundle import load_bundles, load_default_bundles

    if cfg.models.dir:
        d = Path(cfg.models.dir)
        if not d.is_dir():
            raise StartupError(f"models.dir: no such folder {d}")
        bundles = load_bundles(d)
    else:
        bundles = load_default_bundles()
    return bundles


def choose_models(bundles: list, window_mode: str) -> list:
    """One form and one conditions model per exercise, preferring ``window_mode`` ("sliding",
    "rep"; "model": rep models first). The recogniser is kept as it is."""
    order = {"rep": ("rep", "sliding"), "sliding": ("sliding", "rep"), "model": ("rep", "sliding")}[window_mode]
    chosen: dict[tuple[str, str], Any] = {}
    rest = []
    for b in bundles:
        if b.task not in ("form", "conditions"):
            rest.append(b)
            continue
        key = (b.task, b.exercise)
        cur = chosen.get(key)
        if cur is None or order.index(b.spec.window_mode) < order.index(cur.spec.window_mode):
            chosen[key] = b
    for (task, ex), b in chosen.items():
        if window_mode != "model" and b.spec.window_mode != window_mode:
            log.warning("station.window_mode = %r: no %s %s model for %s; using the %s one",
                        window_mode, window_mode, task, ex, b.spec.window_mode)
    return rest + list(chosen.values())


def build_judge(cfg: Config, bundles: list, exercise: str):
    """The real judge for ``exercise`` ("auto" or an id) with the loaded bundles."""
    from ..judging.classifier import Classifier
    from ..judging.judge import Judge

    return Judge([Classifier(b) for b in choose_models(bundles, cfg.station.window_mode)], exercise, cfg.judge)


# ---- the station ----------------------------------------------------------------------------

class Station:
    """The loop and its parts. Parts can be injected (tests, benchmarks); missing ones are
    built from the config by :meth:`setup`."""

    def __init__(self, cfg: Config, *, notifier=None, source=None, estimator=None, judge=None,
                 outputs=None, pin_factory: Any = None, display_device: Any = None,
                 replay_sequence=None, stream=None):
        from .systemd import Notifier

        self.cfg = cfg
        self.notifier = notifier if notifier is not None else Notifier()
        self.source = source
        self.estimator = estimator
        self.judge = judge
        self.outputs = outputs
        self.pin_factory = pin_factory
        self.display_device = display_device
        self.replay_sequence = replay_sequence  # a LandmarkSequence played through a clock source
        self.stream = stream
        self._stop = threading.Event()
        self.stop_reason = ""
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.started_at = time.monotonic()
        self.ready_at: float | None = None
        # counters (totals) and per-period samples for the stats line
        self.frames = 0
        self.events = 0
        self.good = self.bad = 0
        self.pose_fail = _FailureLog("pose estimation")
        self.judge_fail = _FailureLog("judge")
        self._pose_ms: deque[float] = deque(maxlen=4096)  # bounded even with stats off
        # Seconds from a frame's capture until its events were handed to the outputs: every
        # frame (frame_latency) and frames that finished a rep (latencies). For the benchmark.
        self.latencies: deque[float] = deque(maxlen=10_000)
        self.frame_latency: deque[float] = deque(maxlen=10_000)
        self._period_start = time.monotonic()
        self._period_frames = 0
        self._period_captured = 0
        self.last_stats: StatsEvent | None = None

    # ---- setup --------------------------------------------------------------------------
    def setup(self) -> None:
        """Load models, pose estimator and outputs; open the source. Raises StartupError."""
        from ..capture.sources import SourceError, clock_source, open_source

        cfg = self.cfg
        st = cfg.station
        # The source first: a wrong path should fail before seconds of model loading.
        if self.source is None:
            c = cfg.camera
            try:
                if self.replay_sequence is not None:
                    self.source = clock_source(self.replay_sequence.t, realtime=c.realtime,
                                               describe=f"landmark clip {self.replay_sequence.id}")
                else:
                    self.source = open_source(c.source, size=c.size, fps=c.fps, realtime=c.realtime,
                                              rotate=c.rotate, reconnect_max=c.reconnect_max)
            except SourceError as e:
                raise StartupError(f"camera.source: {e}") from e
        if self.judge is None:
            bundles = load_models(cfg)
            log.info("models: %s", ", ".join(f"{b.name} ({b.task}{' ' + b.exercise if b.exercise else ''})"
                                             for b in bundles) or "none")
            exercise = st.exercise
            if exercise == "auto" and self.replay_sequence is not None and not any(
                    b.task == "exercise" for b in bundles) and self.replay_sequence.exercise:
                exercise = self.replay_sequence.exercise
                log.info("no exercise recogniser loaded: judging the clip's exercise, %s", exercise)
            try:
                self.judge = build_judge(cfg, bundles, exercise)
            except (ValueError, KeyError) as e:
                raise StartupError(f"station.exercise: {e}") from e
        if self.estimator is None:
            from ..pose.landmarks import create_estimator

            # A landmark clip as the source is always played by the replay backend.
            backend = "replay" if self.replay_sequence is not None else st.pose_backend
            options: dict[str, Any] = {"threads": st.threads, "model": st.pose_model}
            if backend == "replay":
                if self.replay_sequence is not None:
                    options["sequence"] = self.replay_sequence
                elif st.replay_file:
                    options["path"] = st.replay_file
                else:
                    raise StartupError("station.replay_file: the replay pose backend needs a landmark "
                                       "clip (.npz); or give --source CLIP.npz")
            try:
                self.estimator = create_estimator(backend, **options)
            except PoseError as e:
                raise StartupError(f"station.pose_backend = {backend!r}: {e}") from e
            except (OSError, ValueError) as e:
                raise StartupError(f"station.pose_backend = {backend!r}: {e}", EXIT_FATAL) from e
        if self.outputs is None:
            self.outputs = build_outputs(cfg, on_next_exercise=lambda: self._commands.put("next"),
                                         on_reset=lambda: self._commands.put("reset"),
                                         pin_factory=self.pin_factory, stream=self.stream,
                                         display_device=self.display_device)

    # ---- control (thread- and signal-safe) ----------------------------------------------
    def stop(self, reason: str = "stop requested") -> None:
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def next_exercise(self) -> None:
        self._commands.put("next")

    def reset_counts(self) -> None:
        self._commands.put("reset")

    # ---- the loop -----------------------------------------------------------------------
    def run(self, max_frames: int | None = None, duration: float | None = None) -> int:
        """Run until stopped, the input ends, ``max_frames`` frames or ``duration`` seconds."""
        assert self.source is not None and self.estimator is not None and self.judge is not None
        cfg = self.cfg
        self.notifier.status(f"starting: {self.source.name}")
        self.source.start()
        t_run = time.monotonic()
        self._period_start = t_run
        interval = cfg.logging.stats_interval
        try:
            while not self._stop.is_set():
                self.notifier.watchdog()
                self._drain_commands()
                frame = self.source.read(timeout=0.2)
                now = time.monotonic()
                if self.ready_at is None and (frame is not None or self.source.ended
                                              or now - t_run >= cfg.station.ready_timeout):
                    self._ready(frame is not None)
                if frame is not None:
                    self._process(frame)
                    if max_frames is not None and self.frames >= max_frames:
                        self.stop(f"{max_frames} frames processed")
                elif self.source.ended:
                    self.stop("end of input")
                if duration is not None and now - t_run >= duration:
                    self.stop(f"{duration:g} s elapsed")
                if interval and now - self._period_start >= interval:
                    self._stats(now)
        except Exception:
            log.exception("the frame loop failed")
            self.notifier.stopping("fatal error")
            self._shutdown()
            return EXIT_FATAL
        log.info("stopping: %s", self.stop_reason)
        self.notifier.stopping(f"stopping: {self.stop_reason}")
        self._finish()
        self._shutdown()
        return EXIT_OK

    def _ready(self, have_frame: bool) -> None:
        self.ready_at = time.monotonic()
        status = (f"running: {self.source.name}" if have_frame
                  else f"waiting for {self.source.name}: {self.source.last_error or 'no frames yet'}")
        log.info("ready after %.2f s; %s", self.ready_at - self.started_at, status)
        self.notifier.ready(status)

    def _emit(self, events, frame=None) -> None:
        for e in events or ():
            if isinstance(e, RepEvent):
                self.good, self.bad = e.good, e.bad
                if frame is not None:
                    self.latencies.append(time.monotonic() - frame.captured)
            self.events += 1
            self.outputs.handle(e)

    def _process(self, frame) -> None:
        t0 = time.perf_counter()
        try:
            pose = self.estimator.estimate(frame.image, frame.t)
        except Exception as e:
            self.pose_fail(e)
            h, w = frame.image.shape[:2]
            pose = Pose.none(frame.t, (w, h))
        self._pose_ms.append((time.perf_counter() - t0) * 1000)
        self.frames += 1
        self._period_frames += 1
        try:
            events = self.judge.update(sanitize_pose(pose))
        except Exception as e:
            self.judge_fail(e)
            return
        self._emit(events, frame)
        self.frame_latency.append(time.monotonic() - frame.captured)

    def _drain_commands(self) -> None:
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                if cmd == "next":
                    events = self.judge.next_exercise()
                else:
                    events = self.judge.reset()
            except Exception as e:
                self.judge_fail(e)
                continue
            self._emit(events)

    def _stats(self, now: float) -> StatsEvent:
        period = max(now - self._period_start, 1e-9)
        src = self.source.stats()
        ev = StatsEvent(
            t=now,
            fps=round(self._period_frames / period, 2),
            camera_fps=round((src.captured - self._period_captured) / period, 2),
            dropped=src.dropped,
            pose_ms=round(float(np.median(self._pose_ms)), 2) if self._pose_ms else 0.0,
            rss_mb=round(rss_mb(), 1),
            frames=self.frames,
            good=self.good,
            bad=self.bad,
        )
        extra = []
        if src.failures:
            extra.append(f"camera failures {src.failures}, reconnects {src.reconnects}")
        if self.pose_fail.count or self.judge_fail.count:
            extra.append(f"errors: pose {self.pose_fail.count}, judge {self.judge_fail.count}")
        log.info("stats: %.1f fps (camera %.1f), %d dropped, pose %.1f ms, rss %.0f MB, %d frames, "
                 "%d good / %d bad%s", ev.fps, ev.camera_fps, ev.dropped, ev.pose_ms, ev.rss_mb,
                 ev.frames, ev.good, ev.bad, "; " + "; ".join(extra) if extra else "")
        self.notifier.status(f"{ev.fps:.1f} fps, {ev.good} good / {ev.bad} bad")
        self._period_start = now
        self._period_frames = 0
        self._period_captured = src.captured
        self._pose_ms.clear()
        self.last_stats = ev
        self.outputs.handle(ev)
        return ev

    def _finish(self) -> None:
        """Let the judge close what it has (a rep in progress), then a last stats event."""
        finish = getattr(self.judge, "finish", None)
        if callable(finish):
            try:
                self._emit(finish())
            except Exception as e:
                self.judge_fail(e)
        if self.cfg.logging.stats_interval and self.frames:
            self._stats(time.monotonic())

    def _shutdown(self) -> None:
        """Release everything, each step independent of the others' failures."""
        for what, fn in (("source", getattr(self.source, "close", None)),
                         ("outputs", getattr(self.outputs, "close", None)),
                         ("pose estimator", getattr(self.estimator, "close", None))):
            if fn is None:
                continue
            try:
                fn()
            except Exception:
                log.exception("closing the %s failed", what)
        self.notifier.close()

    def close(self) -> None:
        self._shutdown()


# ---- command line ---------------------------------------------------------------------------

EXAMPLES = """\
examples:
  formcheck-station --demo
      the built-in demo: no camera needed; a recorded clip through the whole pipeline
  formcheck-station
      run as configured (/etc/formcheck/formcheck.toml if present, else the packaged default)
  formcheck-station --source 0 --exercise squat
      USB camera 0, judge squats
  formcheck-station --source picamera2 --pose-backend litert --threads 4
      Pi camera, BlazePose on all four cores
  formcheck-station --source squat.mp4 --fast --exercise squat --no-json -v
      a video file as fast as possible, readable events in the log
  formcheck-station --source clip.npz
      replay recorded landmarks (the dataset format) through judge and outputs
  formcheck-station --check-config --config my.toml
      validate a config file and print the effective configuration

Events go to stdout as JSON lines (rep, state, exercise, reset, stats); logs go to stderr.
Exit codes: 0 clean stop or end of input, 1 fatal error, 2 configuration or usage error.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="formcheck-station",
        description="The formcheck station: camera -> BlazePose -> rep counting and form verdicts -> "
                    "LEDs, buzzer, OLED display, JSON lines and MQTT. Runs under systemd "
                    "(Type=notify, watchdog) or from a shell.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="PATH",
                   help="TOML config file (default: /etc/formcheck/formcheck.toml if it exists, "
                        "else the packaged default)")
    p.add_argument("--check-config", action="store_true",
                   help="validate the config (with the flags applied), print the effective "
                        "configuration and exit (0 valid, 2 invalid)")
    p.add_argument("--source", metavar="SRC",
                   help="camera index (0), 'picamera2', a stream URL, a video file, an image folder, "
                        "or a landmark clip (.npz: selects the replay pose backend)")
    p.add_argument("--exercise", metavar="ID|auto",
                   help="exercise to judge (barbell_curl, deadlift, knee_up, leg_raise, overhead_press, "
                        "side_crunch, side_lunge, side_raise, squat) or 'auto' to recognise it")
    p.add_argument("--pose-backend", choices=("mediapipe", "litert", "replay"),
                   help="pose estimator (replay plays --replay-file / a .npz --source)")
    p.add_argument("--replay-file", metavar="NPZ", help="landmark clip for the replay pose backend")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for pose and models (0 = all cores)")
    p.add_argument("--models", metavar="DIR", help="folder of model bundles (default: the packaged models)")
    rt = p.add_mutually_exclusive_group()
    rt.add_argument("--realtime", dest="realtime", action="store_const", const=True,
                    help="play files at their own rate, like a camera (the default)")
    rt.add_argument("--fast", dest="realtime", action="store_const", const=False,
                    help="play files as fast as possible, never dropping a frame")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N processed frames")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    js = p.add_mutually_exclusive_group()
    js.add_argument("--json", dest="json", action="store_const", const=True,
                    help="events as JSON lines on stdout (default per config: on)")
    js.add_argument("--no-json", dest="json", action="store_const", const=False,
                    help="no JSON lines on stdout")
    p.add_argument("--demo", action="store_true",
                   help="the built-in demo: replay the bundled landmark clip through the whole "
                        "pipeline (no camera needed)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    p.add_argument("--version", action="version", version=f"formcheck {__version__}")
    return p


# Command-line flag (argparse dest) -> config key it overrides; a flag not given (None) keeps
# the file's value. formcheck-doctor reads the flags it shares with the station through this too.
FLAG_KEYS: dict[str, str] = {
    "source": "camera.source",
    "exercise": "station.exercise",
    "pose_backend": "station.pose_backend",
    "replay_file": "station.replay_file",
    "threads": "station.threads",
    "models": "models.dir",
    "realtime": "camera.realtime",
    "json": "logging.json",
}


def flag_overrides(args) -> dict[str, Any]:
    """The config overrides from the flags of :data:`FLAG_KEYS` that ``args`` has and were given."""
    return {key: value for dest, key in FLAG_KEYS.items()
            if (value := getattr(args, dest, None)) is not None}


def _overrides(args) -> dict[str, Any]:
    o = flag_overrides(args)
    if args.verbose:
        o["logging.level"] = "debug"
    elif args.quiet:
        o["logging.level"] = "warning"
    return o


def _setup_logging(level: str) -> None:
    # Under systemd the journal stamps time and unit itself.
    fmt = ("%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM")
           else "%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    handler._formcheck = True  # type: ignore[attr-defined]
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "_formcheck", False)] + [handler]
    root.setLevel(getattr(logging, level.upper()))


def load_config(args) -> Config:
    from . import config as C

    cfg = C.load(args.config) if args.config else C.load_default()
    return C.apply_overrides(cfg, _overrides(args))


def _replay_sequence(path: str, gap_s: float = 2.0):
    """The sequences of a landmark clip file played back to back, ``gap_s`` of nobody between
    them (a demo file may hold several exercises)."""
    from ..sequences import LandmarkSequence, read_sequences

    try:
        seqs = [s for s in read_sequences(path) if len(s.t)]
    except (OSError, ValueError, KeyError) as e:
        raise StartupError(f"cannot read landmark clip {path}: {e}") from e
    if not seqs:
        raise StartupError(f"landmark clip {path} holds no sequence")
    if len(seqs) == 1:
        return seqs[0]
    ts, lms, offset = [], [], 0.0
    for i, s in enumerate(seqs):
        t = s.t - s.t[0] + offset
        ts.append(t)
        lms.append(s.landmarks)
        if i == len(seqs) - 1:
            break
        fps = s.fps or 30.0
        blank = np.arange(1, int(gap_s * fps) + 1) / fps + t[-1]
        ts.append(blank)
        lms.append(np.full((len(blank), NUM_LANDMARKS, 4), np.nan, np.float32))
        offset = blank[-1] + 1.0 / fps
    log.info("landmark clip %s: %d sequences played one after another", path, len(seqs))
    return LandmarkSequence(id=Path(path).stem, t=np.concatenate(ts), landmarks=np.concatenate(lms),
                            exercise=seqs[0].exercise, image_size=seqs[0].image_size, fps=seqs[0].fps)


def main(argv: list[str] | None = None) -> int:
    # The station never needs TensorFlow; keep mediapipe from importing it (seconds, ~1 GB).
    sys.modules.setdefault("tensorflow", None)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version (0) and usage errors (2): returned, not raised
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if args.max_frames is not None and args.max_frames < 1:
        print("formcheck-station: --max-frames must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    if args.duration is not None and not args.duration > 0:
        print("formcheck-station: --duration must be > 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        cfg = load_config(args)
    except ConfigError as e:
        print(f"formcheck-station: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.check_config:
        sys.stdout.write(cfg.to_toml())
        print(f"formcheck-station: configuration OK ({cfg.path})", file=sys.stderr)
        return EXIT_OK
    _setup_logging(cfg.logging.level)
    log.info("formcheck %s station starting (config: %s)", __version__, cfg.path)

    from ..capture.sources import describe_spec

    replay = None
    station: Station | None = None
    try:
        if args.demo:
            if not DEMO_CLIP.is_file():
                raise StartupError(f"--demo: the bundled demo clip {DEMO_CLIP} is missing from this "
                                   "installation; reinstall formcheck, or run on a camera or video "
                                   "with --source", EXIT_FATAL)
            replay = _replay_sequence(str(DEMO_CLIP))
        elif describe_spec(cfg.camera.source) == "landmarks":
            if not Path(cfg.camera.source).is_file():
                raise StartupError(f"camera.source: no such landmark clip {cfg.camera.source}")
            replay = _replay_sequence(cfg.camera.source)
        if replay is not None:
            from . import config as C

            cfg = C.apply_overrides(cfg, {"station.pose_backend": "replay"})
        station = Station(cfg, replay_sequence=replay)
        station.setup()
    except Exception as e:
        if isinstance(e, StartupError | ConfigError):
            log.error("%s", e)
            code = e.code if isinstance(e, StartupError) else EXIT_USAGE
        else:
            log.exception("the station could not start")
            code = EXIT_FATAL
        if station is not None:
            station.notifier.status(f"failed to start: {e}")
            station.close()
        return code

    def on_signal(signum, _frame):
        name = signal.Signals(signum).name
        station.stop(name)
        # A second Ctrl-C while shutting down should still be able to interrupt.
        signal.signal(signum, signal.SIG_DFL)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return station.run(max_frames=args.max_frames, duration=args.duration)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


if __name__ == "__main__":
    sys.exit(main())
