"""``formcheck-convert``: training runs → TFLite model bundles, behind a parity gate.

::

    formcheck-convert runs/squat-conditions -o bundles/            # int8 (default)
    formcheck-convert runs/all/ --quant float16 -o bundles/        # every run.json below runs/all
    formcheck-convert runs/x -o bundles/ --max-loss 0.02 --force   # ship even if the gate fails

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
import datetime as _dt
import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formcheck.device.judging.bundle import (
    Bundle,
    BundleError,
    ConditionInfo,
    TensorInfo,
    load_bundle,
    sha256_hex,
    write_bundle,
)
from formcheck.device.judging.classifier import TFLiteModel
from formcheck.device.exercises import EXERCISE_IDS
from formcheck.device.judging.features import FeatureSpec

from .parity import DEFAULT_MAX_LOSS, ParityResult
from .quantize import VARIANTS, ConvertError, DeviceModel

log = logging.getLogger(__name__)


class RunError(ValueError):
    """A run directory is incomplete or unusable; the message names the file."""


@dataclass
class Converted:
    run_dir: Path
    run: dict
    bundle: Bundle
    parity: ParityResult
    variant: str


def find_runs(paths: list[Path]) -> list[Path]:
    """Run directories: each path itself when it holds run.json, else every run.json below it."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if (p / "run.json").is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(q.parent for q in p.rglob("run.json")))
        else:
            raise RunError(f"{p}: not a run directory (no run.json)")
    if not out:
        raise RunError(f"no run.json under {', '.join(map(str, paths))}")
    return out


def _load_npz(path: Path, keys: tuple[str, ...]) -> dict:
    if not path.is_file():
        raise RunError(f"{path}: missing (train with formcheck-train fit, which writes it)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in keys}
    except (OSError, ValueError, KeyError) as e:
        raise RunError(f"{path}: unreadable ({e})") from None


def load_run(run_dir: Path):
    """``(run dict, keras model, heldout X, heldout y, representative X)``."""
    import keras

    from formcheck.train import models as _models  # noqa: F401  registers MaskedBCE for loading

    run_dir = Path(run_dir)
    try:
        run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise RunError(f"{run_dir / 'run.json'}: unreadable ({e})") from None
    model_path = run_dir / run.get("model_file", "model.keras")
    try:
        model = keras.models.load_model(model_path, compile=False)
    except Exception as e:
        raise RunError(f"{model_path}: cannot load the Keras model ({e})") from None
    held = _load_npz(run_dir / "heldout.npz", ("X", "y"))
    rep = _load_npz(run_dir / "representative.npz", ("X",))
    return run, model, held["X"], held["y"], rep["X"]


def bundle_name(run: dict) -> str:
    return "recogniser" if run["task"] == "exercise" else f"{run['exercise']}-{run['task']}"


def _metric_summary(m: dict) -> dict:
    return {"accuracy": m["accuracy"], "f1": m["f1"],
            "per_label_f1": {k: v["f1"] for k, v in m.get("per_label", {}).items()}}


def _clean(o):
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_clean(v) for v in o]
    if isinstance(o, float) and math.isnan(o):
        return None
    return o


def make_bundle(run: dict, converted: DeviceModel, parity: ParityResult, name: str | None = None) -> Bundle:
    """The bundle record for a converted run (tensor details read back from the model)."""
    model_bytes, variant = converted.model_bytes, converted.variant
    if run["task"] in ("form", "conditions") and run["exercise"] not in EXERCISE_IDS:
        raise RunError(f"run exercise {run['exercise']!r} is not one of the device's exercises "
                       f"({', '.join(EXERCISE_IDS)}); the station could not load its bundle")
    lite = TFLiteModel(model_bytes)
    tinfo = [TensorInfo(t.dtype, (-1, *t.shape[1:]), t.scale if t.quantized else 0.0,
                        t.zero_point if t.quantized else 0) for t in (lite.input, lite.output)]
    split = run.get("split", {})
    data = run.get("data", {})
    training_data = {
        "datasets": data.get("datasets"), "sequences": data.get("sequences"), "origins": data.get("origins"),
        "model": run["config"]["model"], "epochs": run.get("epochs_run"), "seed": run["config"]["seed"],
        "split": split.get("kind"), "group_by": split.get("group_by"), "windows": split.get("windows"),
        "class_weight": run["config"].get("class_weight"),
        "mirror": bool(run["config"].get("mirror", False)),
        "rep_jitter": int(data.get("windows", {}).get("rep_jitter", 0)),
    }
    test = run.get("metrics", {}).get("test", {})
    metrics = {
        "test": {"windows": test.get("n"), "accuracy": test.get("accuracy"), "f1": test.get("f1"),
                 "per_label_f1": {k: v.get("f1") for k, v in test.get("per_label", {}).items()}},
        "heldout_windows": parity.n, "heldout": "val+test", "split": split.get("kind"),
        "keras": _metric_summary(parity.keras), variant: _metric_summary(parity.tflite),
        "max_abs_prob_diff": parity.max_abs_diff,
    }
    conds = tuple(ConditionInfo(c["key"], c["name"], c["cue"]) for c in run.get("conditions", []))
    return Bundle(
        name=name or bundle_name(run), task=run["task"], exercise=run["exercise"],
        labels=tuple(run["labels"]), conditions=conds if run["task"] == "conditions" else (),
        spec=FeatureSpec.from_dict(run["feature_spec"]), input=tinfo[0], output=tinfo[1],
        quantization=variant, threshold=float(run.get("threshold", 0.5)), sha256=sha256_hex(model_bytes),
        model_bytes=model_bytes, training_data=_clean(training_data), metrics=_clean(metrics),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), standardize=converted.standardize,
    )


def convert_run(run_dir: Path, variant: str = "int8", max_loss: float = DEFAULT_MAX_LOSS,
                calibration_windows: int = 500, name: str | None = None,
                representative: np.ndarray | None = None) -> Converted:
    """Convert one run and run the parity gate (nothing is written here)."""
    from .parity import parity_check
    from .quantize import convert_for_device

    run, model, X, y, rep = load_run(run_dir)
    if representative is not None:
        rep = representative
    dm = convert_for_device(model, variant, rep, calibration_windows, seed=run["config"]["seed"])
    parity = parity_check(model, dm, X, y, run["task"], float(run.get("threshold", 0.5)), run["labels"], max_loss)
    return Converted(Path(run_dir), run, make_bundle(run, dm, parity, name), parity, variant)


def write_all(converted: list[Converted], out: Path) -> list[Path]:
    """Write each bundle and load it back with the device's loader."""
    paths = []
    for c in converted:
        p = write_bundle(c.bundle, out)
        load_bundle(p)  # the device must accept what we ship
        paths.append(p)
    return paths


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
