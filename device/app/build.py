"""Everything the station runs, built from a :class:`Config`: source, pose estimator, models,
judge and outputs. Each builder raises :class:`StartupError` naming the config key at fault."""

from __future__ import annotations

import logging
import os
import socket
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
        return create_estimator(st.pose_backend, threads=st.threads, model=st.pose_model)
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
    """Load the models and build the judge. With ``station.exercise = "auto"`` and no
    recogniser installed, a recorded clip's own exercise label (``clip_exercise``) is judged."""
    bundles = load_models(cfg)
    log.info("models: %s", ", ".join(f"{b.name} ({b.task}{' ' + b.exercise if b.exercise else ''})"
                                     for b in bundles) or "none")
    exercise = cfg.station.exercise
    if exercise == "auto" and clip_exercise and not any(b.task == "exercise" for b in bundles):
        exercise = clip_exercise
        log.info("no exercise recogniser loaded: judging the clip's exercise, %s", exercise)
    return build_judge(cfg, bundles, exercise)


def station_id(cfg: Config) -> str:
    if cfg.mqtt.station_id:
        return cfg.mqtt.station_id
    host = "".join(c if c.isalnum() or c in "_-" else "-" for c in socket.gethostname())
    return host or "station"


def build_outputs(cfg: Config, *, on_next_exercise: Callable[[], None], on_reset: Callable[[], None],
                  on_setup: Callable[[], None] | None = None,
                  pin_factory: Any = None, stream=None, display_device: Any = None):
    """The fan-out with every enabled output. An output whose hardware is absent is logged
    once and left out (GPIO off a Pi, no I2C bus); one that exists but fails later is
    isolated and re-created by :class:`~formcheck.device.outputs.fanout.Outputs`."""
    from ..outputs.fanout import ConsoleOutput, JsonLinesOutput, Outputs

    outputs = Outputs(log_interval=FAILURE_LOG_S)
    if cfg.logging.json:
        outputs.add(JsonLinesOutput(stream))
    outputs.add(ConsoleOutput())  # readable lines in the journal

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

