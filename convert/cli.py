"""``formcheck-convert``: training runs → TFLite model bundles, behind a parity gate.

::

    formcheck-convert runs/squat-conditions -o bundles/            # int8 (default)
    formcheck-convert runs/all/ --quant float16 -o bundles/        # every run.json below runs/all
    formcheck-convert runs/x -o bundles/ --max-loss 0.02 --force   # ship even if the gate fails
    formcheck-convert defaults --data data/synth -o device/models  # train + convert the shipped bundles
                                                                   # (formcheck-convert defaults --help)

For each run directory (as written by ``formcheck-train``): load ``model.keras``, convert it
(int8 calibrated on ``representative.npz``, the run's training windows), score the Keras model
and the converted model on the run's held-out windows (``heldout.npz``: validation + test)
through LiteRT, and print both. If any model loses more than ``--max-loss`` macro-F1 or accuracy, nothing is
written and the exit status is 1 (``--force`` writes anyway). Otherwise each bundle
(``NAME.tflite`` + ``NAME.json``) is written to the output directory and re-loaded with the
device's own loader as a final check.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from formcheck.device.judging.bundle import BundleError

from .bundling import RunError, convert_run, find_runs, write_all
from .parity import DEFAULT_MAX_LOSS
from .quantize import VARIANTS, ConvertError

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="formcheck-convert", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                    help="formcheck-train run directories (or folders containing them)")
    ap.add_argument("-o", "--out", required=True, type=Path, help="directory to write the bundles into")
    ap.add_argument("--quant", choices=VARIANTS, default="int8",
                    help="int8: full-integer (int8 input and output; default); float16; float32")
    ap.add_argument("--max-loss", type=float, default=DEFAULT_MAX_LOSS, dest="max_loss",
                    help=f"largest allowed drop in held-out macro-F1 or accuracy vs Keras (default {DEFAULT_MAX_LOSS})")
    ap.add_argument("--force", action="store_true", help="write the bundles even when the parity gate fails")
    ap.add_argument("--calibration-windows", type=int, default=500, dest="calibration_windows",
                    help="training windows used to calibrate int8 (default 500)")
    ap.add_argument("--name", help="bundle name (one run only; default EXERCISE-TASK or 'recogniser')")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["defaults"]:  # a run directory called "defaults": pass ./defaults
        from .defaults import main as defaults_main

        return defaults_main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        runs = find_runs(args.runs)
        if args.name and len(runs) > 1:
            raise RunError("--name: only with a single run")
        converted = []
        for r in runs:
            c = convert_run(r, args.quant, args.max_loss, args.calibration_windows, args.name)
            converted.append(c)
            print(c.parity.summary(c.bundle.name, args.quant) + f"  {c.bundle.size_bytes / 1024:.1f} KB",
                  flush=True)
    except (RunError, ConvertError, BundleError, ValueError) as e:
        print(f"formcheck-convert: {e}", file=sys.stderr)
        return 2
    failed = [c for c in converted if not c.parity.passed]
    if failed and not args.force:
        names = ", ".join(c.bundle.name for c in failed)
        print(f"formcheck-convert: parity gate FAILED for {names}: the {args.quant} model loses more than "
              f"{args.max_loss} F1/accuracy against Keras on held-out windows. Nothing written "
              f"(use --force to write anyway).", file=sys.stderr)
        return 1
    if failed:
        print(f"formcheck-convert: --force: writing despite the failed gate ({len(failed)} model(s))",
              file=sys.stderr)
    try:
        paths = write_all(converted, args.out)
    except BundleError as e:
        print(f"formcheck-convert: the written bundle does not load: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(f"wrote {p} (+ {p.with_suffix('.tflite').name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
