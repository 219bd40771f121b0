"""``formcheck-doctor``: is this box ready to run the station? A checklist with what to do.

Each check says OK, WARN, FAIL or SKIP, and for anything not OK what to do about it. Required
checks — config, camera, pose backend, models, and MQTT when it is enabled — decide the exit
code: 0 when they all pass, 1 otherwise (2 for bad command-line usage). GPIO and the display
are optional: the station runs without them, so they can only warn; so are the setup page's
state and what the saved camera placement can judge.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ConfigError, PoseError, SourceError
from ..pose.landmarks import BACKENDS
from .config import Config

log = logging.getLogger(__name__)

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
MARK = {OK: "[ OK ]", WARN: "[WARN]", FAIL: "[FAIL]", SKIP: "[SKIP]"}


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def passed(self) -> bool:
        return self.status in (OK, SKIP) or (not self.required and self.status == WARN)


# ---- the checks -----------------------------------------------------------------------------

def check_config(args) -> tuple[Check, Config | None]:
    from . import config as C
    from .cli import flag_overrides

    try:
        cfg = C.load(args.config) if args.config else C.load_default()
        cfg = C.apply_overrides(cfg, flag_overrides(args))  # --source, --pose-backend, --models
    except ConfigError as e:
        return Check("config", FAIL, str(e), "fix the named keys; the packaged default documents "
                     "every key (formcheck-station --check-config prints the effective config)"), None
    return Check("config", OK, f"valid: {cfg.path}"), cfg


def _camera_fix(kind: str) -> str:
    return {
        "camera": "is a USB camera plugged in? `ls /dev/video*`; the service user needs the "
                  "video group (sudo usermod -aG video formcheck)",
        "picamera2": "is the camera cable seated and detected? `rpicam-hello --list-cameras`; "
                     "picamera2 comes from apt: sudo apt install python3-picamera2",
        "url": "open the URL in a player from this box; check host, port, path and credentials",
        "video": "check the path in camera.source",
        "folder": "check the path in camera.source",
        "landmarks": "check the path in camera.source",
    }.get(kind, "check camera.source")


def check_camera(cfg: Config, timeout: float) -> Check:
    from ..capture.sources import describe_spec, open_source

    c = cfg.camera
    kind = describe_spec(c.source)
    if kind == "camera" and sys.platform == "linux" and not Path(f"/dev/video{c.source}").exists():
        have = ", ".join(sorted(str(p) for p in Path("/dev").glob("video*"))) or "none"
        return Check("camera", FAIL, f"camera {c.source}: no /dev/video{c.source} (present: {have})",
                     _camera_fix(kind))
    try:
        src = open_source(c.source, size=c.size, fps=c.fps, realtime=False, rotate=c.rotate,
                          reconnect_max=1.0)
    except SourceError as e:
        return Check("camera", FAIL, str(e), _camera_fix(kind))
    t0 = time.monotonic()
    with src:
        frame = src.read(timeout=timeout)
        while frame is None and not src.ended and time.monotonic() - t0 < timeout:
            frame = src.read(timeout=0.2)
        err = src.last_error
    if frame is None:
        why = err or "no frame"
        return Check("camera", FAIL, f"{src.name}: no frame within {timeout:g} s ({why})", _camera_fix(kind))
    w, h = frame.size
    return Check("camera", OK, f"{src.name}: {w}x{h} frame in {time.monotonic() - t0:.2f} s")


def check_pose(cfg: Config) -> Check:
    from ..capture.sources import yields_poses
    from ..pose.landmarks import create_estimator

    st = cfg.station
    backend = st.pose_backend
    if yields_poses(cfg.camera.source):
        return Check("pose", SKIP, f"not needed: {cfg.camera.source} holds recorded poses", required=False)
    options: dict = {"threads": st.threads, "model": st.pose_model}
    try:
        t0 = time.perf_counter()
        est = create_estimator(backend, **options)
        load_s = time.perf_counter() - t0
    except (PoseError, ImportError, OSError, ValueError) as e:
        return Check("pose", FAIL, f"{backend}: {e}",
                     "pip install 'formcheck[device]' (mediapipe 0.10.14-0.10.21, ai-edge-litert); "
                     "or choose another station.pose_backend")
    try:
        photo = Path(__file__).resolve().parents[1] / "demo" / "person.jpg"
        if photo.is_file():
            import cv2

            frame = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
            what = "the bundled photo"
        else:
            frame = np.zeros((480, 640, 3), np.uint8)
            what = "a blank frame"
        times = []
        pose = None
        for i in range(3):
            t0 = time.perf_counter()
            pose = est.estimate(frame, i / 30)
            times.append((time.perf_counter() - t0) * 1000)
    except Exception as e:
        return Check("pose", FAIL, f"{backend} loaded but failed on {what}: {type(e).__name__}: {e}",
                     "run with -v and report the error")
    finally:
        est.close()
    seen = "a person" if pose is not None and pose.person else "no person"
    return Check("pose", OK, f"{backend}: loaded in {load_s:.1f} s, {np.median(times):.0f} ms per frame on "
                 f"{what} ({seen})")


def check_models(cfg: Config) -> Check:
    from ..judging.bundle import default_bundle_dir
    from ..judging.classifier import Classifier

    d = Path(cfg.models.dir) if cfg.models.dir else default_bundle_dir()
    if not d.is_dir():
        return Check("models", FAIL, f"no such folder {d}",
                     "create it and copy bundles (NAME.tflite + NAME.json) into it, or set models.dir = \"\"")
    from .build import load_models_checked

    ex = cfg.station.exercise
    bundles, problems = load_models_checked(cfg, ex)
    if problems and not cfg.station.allow_degraded:
        return Check("models", FAIL, "; ".join(problems),
                     "replace the named bundles (formcheck-convert makes them; the packaged ones are in "
                     "the package), choose another station.exercise, or set station.allow_degraded = true")
    if not bundles:
        return Check("models", FAIL, f"no valid model bundle in {d} (bad ones are logged above)",
                     "copy bundles made by formcheck-convert there, or set models.dir = \"\" for the "
                     "packaged ones")
    failed = []
    for b in bundles:
        try:
            clf = Classifier(b, threads=1)
            clf.predict(np.zeros((1, b.spec.window, b.spec.num_features), np.float32))
        except Exception as e:
            failed.append(f"{b.name}: {e}")
    if failed:
        return Check("models", FAIL, "; ".join(failed), "reconvert the named bundles with formcheck-convert")
    names = ", ".join(sorted({b.exercise or b.task for b in bundles}))
    ex = cfg.station.exercise
    if ex == "auto" and not any(b.task == "exercise" for b in bundles):
        return Check("models", WARN, f"{len(bundles)} bundles in {d} ({names}) but no exercise recogniser "
                     "for station.exercise = \"auto\"", "set station.exercise to an exercise id")
    if ex != "auto" and not any(b.exercise == ex for b in bundles):
        return Check("models", WARN, f"{len(bundles)} bundles in {d} ({names}); none for {ex}: reps are "
                     "counted without form verdicts", f"add a bundle for {ex}")
    return Check("models", OK, f"{len(bundles)} bundles in {d}: {names}")


def check_gpio(cfg: Config) -> Check:
    if not cfg.gpio.enabled:
        return Check("gpio", SKIP, "disabled (gpio.enabled = false)", required=False)
    try:
        from gpiozero import Device
    except ImportError as e:
        return Check("gpio", WARN, f"gpiozero is not installed ({e})", "pip install 'formcheck[device]'",
                     required=False)
    from ..outputs.gpio import make_pin_factory

    prior = Device.pin_factory  # a factory someone already chose is reported, not replaced
    factory = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if cfg.gpio.pin_factory:
                factory = make_pin_factory(cfg.gpio.pin_factory)
            else:
                # a device without pins: gpiozero chooses its default factory as for any device
                # (GPIOZERO_PIN_FACTORY, else lgpio, RPi.GPIO, pigpio, native) and sets Device.pin_factory
                Device().close()
                factory = Device.pin_factory
            error = None
        except Exception as e:
            error = e
        finally:
            Device.pin_factory = prior
    if error is not None:
        # gpiozero says why each factory was passed over (missing module, not a Pi, ...).
        why = "; ".join(str(w.message) for w in caught) or str(error)
        return Check("gpio", WARN, f"no GPIO pin factory: {why}. Not a Raspberry Pi? The station runs "
                     "without LEDs, buzzer and button",
                     "on a Pi: sudo apt install python3-lgpio and add the service user to the gpio "
                     "group; off a Pi this is expected (tests use gpiozero's MockFactory; "
                     "gpio.pin_factory = \"mock\" simulates the pins)", required=False)
    name = type(factory).__name__
    try:
        if factory is not prior:
            factory.close()
    except Exception:
        log.debug("closing the pin factory failed", exc_info=True)
    if name == "MockFactory":
        return Check("gpio", WARN, "MockFactory: pins are simulated, nothing is wired",
                     "set gpio.pin_factory = \"\" on a Pi", required=False)
    return Check("gpio", OK, f"{name}; LEDs on BCM {cfg.gpio.green_pin}/{cfg.gpio.red_pin}/"
                 f"{cfg.gpio.amber_pin}, buzzer {cfg.gpio.buzzer_pin}, button {cfg.gpio.button_pin}",
                 required=False)


def check_display(cfg: Config) -> Check:
    d = cfg.display
    if not d.enabled:
        return Check("display", SKIP, "disabled (display.enabled = false)", required=False)
    buses = sorted(str(p) for p in Path("/dev").glob("i2c-*"))
    bus = Path(f"/dev/i2c-{d.port}")
    if not bus.exists():
        have = ", ".join(buses) or "none"
        return Check("display", WARN, f"no I2C bus {bus} (present: {have}); the station runs without the display",
                     "enable I2C: sudo raspi-config nonint do_i2c 0, then reboot; or set display.port",
                     required=False)
    if not os.access(bus, os.R_OK | os.W_OK):
        return Check("display", WARN, f"no permission on {bus}",
                     "add the service user to the i2c group: sudo usermod -aG i2c formcheck", required=False)
    try:
        from ..outputs.display import open_device

        dev = open_device(d.driver, d.port, d.address, d.rotate // 90, d.width, d.height)
        dev.cleanup()
    except Exception as e:
        return Check("display", WARN, f"{d.driver} at 0x{d.address:02X} on {bus}: {type(e).__name__}: {e}",
                     f"check wiring (SDA pin 3, SCL pin 5, 3.3 V, GND) and the address: i2cdetect -y {d.port}",
                     required=False)
    return Check("display", OK, f"{d.driver} at 0x{d.address:02X} on {bus}", required=False)


def check_mqtt(cfg: Config, timeout: float = 5.0) -> Check:
    m = cfg.mqtt
    if not m.enabled:
        return Check("mqtt", SKIP, "disabled (mqtt.enabled = false)")
    import threading

    try:
        import paho.mqtt.client as mqtt
    except ImportError as e:
        return Check("mqtt", FAIL, f"paho-mqtt is not installed ({e})", "pip install 'formcheck[device]'")
    result: dict = {}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"formcheck-doctor-{os.getpid()}")
    if m.username:
        client.username_pw_set(m.username, m.password or None)
    if m.tls:
        client.tls_set()
    client.on_connect = on_connect
    where = f"{m.host}:{m.port}"
    try:
        client.connect(m.host, m.port, keepalive=m.keepalive)
        client.loop_start()
        done.wait(timeout)
    except Exception as e:
        return Check("mqtt", FAIL, f"cannot reach the broker at {where}: {e}",
                     "check mqtt.host and mqtt.port; is the broker running (systemctl status mosquitto)?")
    finally:
        try:
            client.disconnect()
            client.loop_stop()
        except Exception:
            log.debug("mqtt disconnect failed", exc_info=True)
    rc = result.get("rc")
    if rc is None:
        return Check("mqtt", FAIL, f"no answer from {where} within {timeout:g} s",
                     "check the port (TLS is usually 8883) and firewalls")
    if rc.is_failure:
        return Check("mqtt", FAIL, f"{where} refused the connection: {rc}",
                     "check mqtt.username and mqtt.password, and the broker's ACLs")
    return Check("mqtt", OK, f"connected to {where}")


def check_setup(cfg: Config, timeout: float = 1.0) -> Check:
    """The setup page's state: closed (no socket, as it should be), open, or its port taken."""
    import socket

    su = cfg.setup
    how = (f"formcheck-station --setup, or hold the button {su.button_hold:g} s" if su.button_hold
           else "formcheck-station --setup")
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return Check("setup", WARN, "the setup page needs aiohttp, which is not installed",
                     "pip install 'formcheck[setup]'", required=False)
    if su.port == 0:
        return Check("setup", OK, f"closed (opens on a free port, logged, with {how})", required=False)
    host = "127.0.0.1" if su.bind in ("0.0.0.0", "", "::") else su.bind
    try:
        conn = socket.create_connection((host, su.port), timeout=timeout)
    except OSError:
        return Check("setup", OK, f"closed: nothing listens on port {su.port} (opens for "
                     f"{su.duration / 60:g} min with {how})", required=False)
    with conn:
        try:
            conn.settimeout(timeout)
            conn.sendall(b"GET / HTTP/1.0\r\nHost: doctor\r\n\r\n")
            head = conn.recv(4096)
        except OSError:
            head = b""  # something listens but does not answer like the setup page
    if b"formcheck setup" in head:
        return Check("setup", OK, f"open now on port {su.port} (closes by itself after "
                     f"{su.duration / 60:g} min; the PIN is on the display and in the log)", required=False)
    return Check("setup", WARN, f"port {su.port} is taken by another program: the setup page could not "
                 "open there", "set setup.port to a free port (0 = any free port)", required=False)


def check_placement(cfg: Config) -> Check:
    """What the configured placement (exercise and camera view) can judge."""
    from .setup_feed import VIEWS, judge_conditions_views, suggestion

    ex, view = cfg.station.exercise, cfg.camera.view
    if view not in VIEWS:
        return Check("placement", WARN, f"camera.view = {view!r}: the placement was never saved",
                     "open the setup page (formcheck-station --setup) and save the placement",
                     required=False)
    if ex == "auto":
        return Check("placement", OK, f"{view} view; exercise auto: what it judges depends on the "
                     "exercise recognised", required=False)
    conds = judge_conditions_views(ex, view, cfg.conditions)
    yes = [c.key for c in conds if c.judgeable]
    no = [c.key for c in conds if not c.judgeable and c.views]  # another view would judge these
    nobody = [c.key for c in conds if not c.views]  # no view: nothing judges them (yet)
    detail = f"{ex} from a {view} view judges {', '.join(yes) or 'nothing'}"
    if nobody:
        detail += f" (no view judges {', '.join(nobody)})"
    if not no:
        return Check("placement", OK, detail, required=False)
    return Check("placement", WARN, f"{detail}; not {', '.join(no)}",
                 suggestion(ex, view, conds) or "see the setup page", required=False)


# ---- the command ----------------------------------------------------------------------------

def run_checks(args) -> list[Check]:
    checks: list[Check] = []
    cfg_check, cfg = check_config(args)
    checks.append(cfg_check)
    if cfg is None:
        for name in ("camera", "pose", "models", "gpio", "display", "mqtt", "setup", "placement"):
            checks.append(Check(name, SKIP, "not checked: the config is invalid", required=False))
        return checks
    for name, fn in (("camera", lambda: check_camera(cfg, args.camera_timeout)),
                     ("pose", lambda: check_pose(cfg)), ("models", lambda: check_models(cfg)),
                     ("gpio", lambda: check_gpio(cfg)), ("display", lambda: check_display(cfg)),
                     ("mqtt", lambda: check_mqtt(cfg)), ("setup", lambda: check_setup(cfg)),
                     ("placement", lambda: check_placement(cfg))):
        try:
            checks.append(fn())
        except Exception as e:  # a check that crashes is a failed check, not a crashed doctor
            checks.append(Check(name, FAIL, f"{type(e).__name__}: {e}", "run with -v and report the error"))
    return checks


def format_checks(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        opt = "" if c.required or c.status in (OK, SKIP) else " (optional)"
        lines.append(f"{MARK[c.status]} {c.name:<{width}}  {c.detail}{opt}")
        if c.fix and c.status in (WARN, FAIL):
            lines.append(f"       {'':<{width}}  -> {c.fix}")
    required = [c for c in checks if c.required]
    ok = sum(c.passed for c in required)
    lines.append("")
    lines.append(f"{ok} of {len(required)} required checks passed"
                 + ("; the station is ready to run." if ok == len(required) else "."))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="formcheck-doctor",
        description="Check that this machine can run the formcheck station: config, camera, pose "
                    "backend, models, GPIO, display, MQTT, the setup page and what the camera's "
                    "placement can judge. Prints a checklist with what to do "
                    "for each problem. Exit code 0 when every required check passes.",
        epilog="examples:\n  formcheck-doctor\n  formcheck-doctor --config /etc/formcheck/formcheck.toml\n"
               "  formcheck-doctor --source picamera2 --pose-backend litert",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="PATH", help="config file (default: as formcheck-station)")
    p.add_argument("--source", metavar="SRC", help="check this camera/source instead of the configured one")
    p.add_argument("--pose-backend", choices=tuple(BACKENDS), help="check this backend")
    p.add_argument("--models", metavar="DIR", help="check this models folder")
    p.add_argument("--exercise", metavar="ID|auto",
                   help="check the models this exercise needs (default: station.exercise of the config)")
    p.add_argument("--camera-timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait for a first frame (default 5)")
    p.add_argument("-v", "--verbose", action="store_true", help="show log messages while checking")
    p.add_argument("--version", action="version", version=f"formcheck {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    sys.modules.setdefault("tensorflow", None)  # as the station: never import TensorFlow
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0), usage errors (2)
        return e.code if isinstance(e.code, int) else 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    print(f"formcheck doctor {__version__}")
    checks = run_checks(args)
    print(format_checks(checks))
    return 0 if all(c.passed for c in checks if c.required) else 1


if __name__ == "__main__":
    sys.exit(main())
