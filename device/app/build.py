"""Everything the station runs, built from a :class:`Config`: source, pose estimator, models,
judge and outputs. Each builder raises :class:`StartupError` naming the config key at fault."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import PoseError, SourceError, StartupError
from .config import Config

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FATAL, EXIT_USAGE = 0, 1, 2
FAILURE_LOG_S = 30.0  # at most one log line per failing stage or output per this many seconds


def cpu_threads(threads: int) -> int:
    """``station.threads`` as a thread count (0 = all cores)."""
    return threads or os.cpu_count() or 1


def build_source(cfg: Config):
    """The frame source of ``camera.source`` (created, not started)."""
    from ..capture.sources import open_source

    c = cfg.camera
    try:
        return open_source(c.source, size=c.size, fps=c.fps, realtime=c.realtime, rotate=c.rotate,
                           flip=c.flip, reconnect_max=c.reconnect_max)
    except SourceError as e:
        raise StartupError(f"camera.source: {e}") from e


def build_estimator(cfg: Config):
    """The pose estimator of ``station.pose_backend``."""
    from ..pose.landmarks import create_estimator

    st = cfg.station
    try:
        return create_estimator(st.pose_backend, threads=st.threads, model=st.pose_model,
                                pipeline=st.pose_pipeline)
    except PoseError as e:
        raise StartupError(f"station.pose_backend = {st.pose_backend!r}: {e}") from e
    except (OSError, ValueError) as e:
        raise StartupError(f"station.pose_backend = {st.pose_backend!r}: {e}", EXIT_FATAL) from e


def load_models(cfg: Config) -> list:
    """The bundles of ``models.dir`` (the packaged ones when unset)."""
    from ..judging.bundle import load_bundles, load_default_bundles

    if cfg.models.dir:
        d = Path(cfg.models.dir)
        if not d.is_dir():
            raise StartupError(f"models.dir: no such folder {d}")
        return load_bundles(d)
    return load_default_bundles()


def _bundle_needed(path: Path, exercise: str) -> bool:
    """Whether a bundle that failed to load is one ``exercise`` needs ("auto": every one). Its
    metadata says, when it can be read; otherwise its name (``squat-conditions.json``)."""
    if exercise == "auto":
        return True
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(meta, dict) and isinstance(meta.get("exercise"), str) and meta.get("exercise"):
            return meta["exercise"] == exercise
    except (OSError, ValueError):
        pass
    return path.stem == exercise or path.stem.startswith(exercise + "-")


def load_models_checked(cfg: Config, exercise: str | None = None) -> tuple[list, list[str]]:
    """The loadable bundles of ``models.dir`` and the problems that keep ``exercise`` (default
    ``station.exercise``) from being judged: a bundle it needs that is broken (named, with the
    field at fault), no model for it, no recogniser for "auto", an empty folder."""
    from ..judging.bundle import BundleError, default_bundle_dir, load_bundle

    d = Path(cfg.models.dir) if cfg.models.dir else default_bundle_dir()
    if not d.is_dir():
        raise StartupError(f"models.dir: no such folder {d}")
    exercise = exercise or cfg.station.exercise
    bundles, problems = [], []
    for p in sorted(d.glob("*.json")):
        try:
            bundles.append(load_bundle(p))
        except BundleError as e:
            if _bundle_needed(p, exercise):
                problems.append(f"bundle {p.stem}: {e}")
            else:
                log.error("skipping bundle: %s", e)
    if exercise == "auto":
        if not any(b.task == "exercise" for b in bundles):
            problems.append(f"station.exercise = \"auto\" needs an exercise recogniser (a bundle with task "
                            f"\"exercise\") in {d}; there is none")
    elif not any(b.exercise == exercise and b.task in ("form", "conditions") for b in bundles):
        problems.append(f"no form or conditions model for {exercise} in {d}: its reps cannot be judged")
    return bundles, problems


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


def build_classifiers(bundles: list, threads: int) -> list:
    """A LiteRT classifier per bundle, on ``threads`` CPU threads (``station.threads``)."""
    from ..judging.classifier import Classifier

    n = cpu_threads(threads)
    try:
        return [Classifier(b, threads=n) for b in bundles]
    except ValueError as e:  # a bundle whose tensors disagree with its spec
        raise StartupError(f"models: {e}", EXIT_FATAL) from e


def build_judge(cfg: Config, bundles: list, exercise: str):
    """The judge for ``exercise`` ("auto" or an id) with the chosen models of ``bundles``."""
    from ..judging.judge import Judge

    models = build_classifiers(choose_models(bundles, cfg.station.window_mode), cfg.station.threads)
    try:
        return Judge(models, exercise, cfg.judge, cfg.conditions)
    except (ValueError, KeyError) as e:
        raise StartupError(f"station.exercise: {e}") from e


def judge_from_config(cfg: Config, clip_exercise: str = ""):
    """Load the models and build the judge (see :func:`checked_judge`)."""
    return checked_judge(cfg, clip_exercise)[0]


def checked_judge(cfg: Config, clip_exercise: str = "") -> tuple[Any, list[str]]:
    """The judge, and what it cannot judge. With ``station.exercise = "auto"`` and no
    recogniser installed, a recorded clip's own exercise label (``clip_exercise``) is judged.

    Refuses (StartupError, exit 2) when the configured exercise cannot be judged, unless
    ``station.allow_degraded``: then the problems are returned for every rep event to carry."""
    exercise = cfg.station.exercise
    if exercise == "auto" and clip_exercise:
        bundles, problems = load_models_checked(cfg, "auto")
        if not any(b.task == "exercise" for b in bundles):
            exercise = clip_exercise
            log.info("no exercise recogniser loaded: judging the clip's exercise, %s", exercise)
    bundles, problems = load_models_checked(cfg, exercise)
    log.info("models: %s", ", ".join(f"{b.name} ({b.task}{' ' + b.exercise if b.exercise else ''})"
                                     for b in bundles) or "none")
    if problems:
        if not cfg.station.allow_degraded:
            raise StartupError(f"station.exercise = {exercise!r} cannot be judged: " + "; ".join(problems)
                               + ". Fix or replace the bundle (formcheck-doctor checks them), or set "
                               "station.allow_degraded = true to count reps without those verdicts")
        for p in problems:
            log.warning("running degraded (station.allow_degraded): %s", p)
    return build_judge(cfg, bundles, exercise), problems


def on_a_pi() -> bool:
    """Whether this is a Raspberry Pi: a missing GPIO or I2C bus is a problem there, and
    expected anywhere else (a laptop running the demo), so it is only a notice."""
    try:
        return "raspberry pi" in Path("/proc/device-tree/model").read_text(errors="replace").lower()
    except OSError:
        return False


def station_id(cfg: Config) -> str:
    if cfg.mqtt.station_id:
        return cfg.mqtt.station_id
    host = "".join(c if c.isalnum() or c in "_-" else "-" for c in socket.gethostname())
    return host or "station"


def json_events(cfg: Config, stream=None) -> bool:
    """Events as JSON lines (True) or readable lines (False) on ``stream`` (stdout):
    ``logging.json = "auto"`` is readable on a terminal, JSON anywhere else."""
    if cfg.logging.json != "auto":
        return bool(cfg.logging.json)
    target = stream if stream is not None else sys.stdout
    try:
        return not target.isatty()
    except (AttributeError, ValueError, OSError):
        return True


def build_outputs(cfg: Config, *, on_next_exercise: Callable[[], None], on_reset: Callable[[], None],
                  on_setup: Callable[[], None] | None = None,
                  pin_factory: Any = None, stream=None, display_device: Any = None,
                  on_stream_closed: Callable[[], None] | None = None):
    """The fan-out with every enabled output. An output whose hardware is absent is logged
    once and left out (GPIO off a Pi, no I2C bus); one that exists but fails later is
    isolated and re-created by :class:`~formcheck.device.outputs.fanout.Outputs`."""
    from ..outputs.fanout import ConsoleOutput, JsonLinesOutput, Outputs

    outputs = Outputs(log_interval=FAILURE_LOG_S)
    # One stream of events on stdout, written once: JSON lines for machines (and the journal),
    # or readable lines on a terminal. In JSON mode the readable lines go to the debug log.
    if json_events(cfg, stream):
        outputs.add(JsonLinesOutput(stream, on_closed=on_stream_closed))
        outputs.add(ConsoleOutput(level=logging.DEBUG))
    else:
        outputs.add(ConsoleOutput(stream if stream is not None else sys.stdout, stats=True,
                                  on_closed=on_stream_closed))

    if cfg.gpio.enabled:
        from ..outputs.gpio import SignalPins, Signals, make_pin_factory

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
                                   on_reset=on_reset, hold_time=g.long_press, on_setup=on_setup,
                                   setup_hold=cfg.setup.button_hold)

                signals = signals_factory()
            outputs.add(signals, factory=signals_factory, name="signals")
        except Exception as e:
            log.log(logging.WARNING if on_a_pi() else logging.INFO,
                    "GPIO unavailable, running without LEDs, buzzer and button: %s", e)

    if cfg.display.enabled:
        d = cfg.display
        bus = Path(f"/dev/i2c-{d.port}")
        if display_device is None and not bus.exists():
            log.log(logging.WARNING if on_a_pi() else logging.INFO, "display: no I2C bus %s (enable I2C with raspi-config); running without the "
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
            outputs.add(MqttOutput(station_id(cfg), m.host, m.port, topic_prefix=m.topic,
                                   discovery=m.discovery, discovery_prefix=m.discovery_prefix,
                                   username=m.username or None, password=m.password or None,
                                   tls=m.tls, keepalive=m.keepalive))
        except Exception as e:
            log.warning("MQTT unavailable: %s", e)
    return outputs


def build_setup_page(cfg: Config, *, on_placement: Callable[[Config], None],
                     on_event: Callable[[Any], None], history: Any = None):
    """The setup page's controller (nothing listens until it is opened). Saves go to the config
    file the station was started with, else the system config; opening and closing are
    announced as SetupEvents (the display shows the PIN). ``history`` (the rep history, when
    the station keeps one) feeds the page's history view and its corrections."""
    from ..events import SetupEvent
    from .setup_server import SetupController

    path = cfg.path if cfg.path and Path(cfg.path).is_file() else None
    ctl: Any = None

    def opened(pin: str, url: str) -> None:
        on_event(SetupEvent(t=time.monotonic(), open=True, url=url, pin=pin,
                            closes_in=ctl.server.remaining() if ctl.server else cfg.setup.duration))

    def closed(reason: str) -> None:
        on_event(SetupEvent(t=time.monotonic(), open=False, reason=reason))

    ctl = SetupController(cfg, config_path=path, on_placement=on_placement, on_pin=opened, on_close=closed,
                          history=history)
    return ctl

