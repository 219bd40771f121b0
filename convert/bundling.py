"""Training runs → device bundles: load a run directory, convert its model, run the parity gate,
build the bundle record, write bundles and load them back with the device's loader."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from formcheck.device.exercises import EXERCISE_IDS
from formcheck.device.judging.bundle import (
    Bundle,
    ConditionInfo,
    TensorInfo,
    load_bundle,
    sha256_hex,
    write_bundle,
)
from formcheck.device.judging.classifier import TFLiteModel
from formcheck.device.judging.features import FeatureSpec

from .parity import DEFAULT_MAX_LOSS, ParityResult
from .quantize import DeviceModel

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
        "sparse": int(data.get("windows", {}).get("sparse", 0)),
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
