"""``formcheck-station``: the command line. Parses flags, loads the config, builds and runs the
station under signal handlers; :func:`main` returns the exit code."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError, StartupError
from ..pose.landmarks import BACKENDS
from . import config as C
from .build import EXIT_FATAL, EXIT_OK, EXIT_USAGE
from .config import Config
from .native_log import native_chatter_to_debug
from .station import Station

log = logging.getLogger(__name__)

DEMO_CLIP = Path(__file__).resolve().parents[1] / "demo" / "demo.npz"

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
      a video file as fast as possible, readable events, debug log
  formcheck-station --source clip.npz
      recorded landmarks (the dataset format) through judge and outputs, no pose estimator
  formcheck-station --setup --source squat.mp4 --exercise squat
      open the setup page on the LAN (PIN on the display and in the log) to place the camera
  formcheck-station --check-config --config my.toml
      validate a config file and print the effective configuration

Events (rep, state, exercise, camera, reset, stats) go to stdout once each: readable lines on a
terminal, JSON lines anywhere else (a pipe, a file, the journal) or with --json; logs go to
stderr. A reader that closes stdout (| head) ends the run quietly when nothing else listens.
Exit codes: 0 clean stop or end of input, 1 fatal error (also a capture or output thread that
died), 2 configuration or usage error (also an exercise its models cannot judge).
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
                        "or a landmark clip (.npz: recorded poses, no pose estimator)")
    p.add_argument("--exercise", metavar="ID|auto",
                   help="exercise to judge (barbell_curl, deadlift, knee_up, leg_raise, overhead_press, "
                        "side_crunch, side_lunge, side_raise, squat) or 'auto' to recognise it")
    p.add_argument("--pose-backend", choices=tuple(BACKENDS), help="pose estimator")
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
                    help="events as JSON lines on stdout (default: logging.json = \"auto\", JSON "
                         "unless stdout is a terminal)")
    js.add_argument("--no-json", dest="json", action="store_const", const=False,
                    help="events as readable lines on stdout, even when it is not a terminal")
    p.add_argument("--demo", action="store_true",
                   help="the built-in demo: play the bundled landmark clip through the whole "
                        "pipeline (no camera needed)")
    p.add_argument("--setup", action="store_true",
                   help="open the setup page on the LAN for setup.duration seconds (default 15 min): "
                        "the live picture with the skeleton, framing checks and what this view can "
                        "judge, behind a one-time PIN shown on the display and in the log (holding "
                        "the button for setup.button_hold seconds opens it too)")
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
    "threads": "station.threads",
    "models": "models.dir",
    "realtime": "camera.realtime",
    "json": "logging.json",
}


def flag_overrides(args) -> dict[str, Any]:
    """The config overrides from the flags of :data:`FLAG_KEYS` that ``args`` has and were given."""
    return {key: value for dest, key in FLAG_KEYS.items()
            if (value := getattr(args, dest, None)) is not None}


def overrides(args) -> dict[str, Any]:
    o = flag_overrides(args)
    if args.verbose:
        o["logging.level"] = "debug"
    elif args.quiet:
        o["logging.level"] = "warning"
    return o


def setup_logging(level: str) -> None:
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
    cfg = C.load(args.config) if args.config else C.load_default()
    o = overrides(args)
    if args.demo:
        if not DEMO_CLIP.is_file():
            raise StartupError(f"--demo: the bundled demo clip {DEMO_CLIP} is missing from this "
                               "installation; reinstall formcheck, or run on a camera or video "
                               "with --source", EXIT_FATAL)
        o["camera.source"] = str(DEMO_CLIP)
        o["history.enabled"] = False  # the demonstrator's reps are nobody's history
    return C.apply_overrides(cfg, o)


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
    except (ConfigError, StartupError) as e:
        print(f"formcheck-station: {e}", file=sys.stderr)
        return e.code if isinstance(e, StartupError) else EXIT_USAGE
    if args.check_config:
        sys.stdout.write(cfg.to_toml())
        print(f"formcheck-station: configuration OK ({cfg.path})", file=sys.stderr)
        return EXIT_OK
    setup_logging(cfg.logging.level)
    log.info("formcheck %s station starting (config: %s)", __version__, cfg.path)

    station = Station(cfg)
    try:
        # Native libraries print their own notices while models load: debug-only (-v).
        with native_chatter_to_debug(enabled=cfg.logging.level != "debug"):
            station.setup()
    except Exception as e:
        if isinstance(e, StartupError):
            log.error("%s", e)
            code = e.code
        else:
            log.exception("the station could not start")
            code = EXIT_FATAL
        station.notifier.status(f"failed to start: {e}")
        station.close()
        return code

    def on_signal(signum, _frame):
        station.stop(signal.Signals(signum).name)
        # A second Ctrl-C while shutting down should still be able to interrupt.
        signal.signal(signum, signal.SIG_DFL)

    def on_hup(_signum, _frame):
        station.reload()  # systemctl reload: models and personal thresholds, the set goes on

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    if args.setup:
        station.open_setup()
    try:
        return station.run(max_frames=args.max_frames, duration=args.duration)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


if __name__ == "__main__":
    sys.exit(main())
