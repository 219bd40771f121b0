"""Training runs as a library: train one model on a window set and save the run directory
(``model.keras``, ``run.json``, held-out and calibration windows, report), read a run back.
``formcheck-train`` and the shipped-defaults builder (``formcheck.convert.defaults``) use it."""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from pathlib import Path

import numpy as np

from formcheck.device.judging.features import FeatureSpec

from .data import CondLabel, DataError, LabelSpace, WindowSet, representative_sample, split_windows


def jsonable(o):
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if math.isnan(float(o)) else float(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    return o


def safe_name(s: str) -> str:
    return re.sub(r"[^\w.+-]+", "_", s.strip(), flags=re.UNICODE) or "_"


def run_name(task: str, exercise: str) -> str:
    return "recogniser" if task == "exercise" else f"{safe_name(exercise)}-{task}"


def fit_one(ws: WindowSet, cfg, split_kind: str, group_by: str, outdir: Path | None,
            data_desc: dict, save_arrays: bool = True, report: bool = True, desc: str = "",
            split_seed: int | None = None) -> dict:
    """Split ``ws`` (seeded by ``split_seed``, default ``cfg.seed``), train, evaluate on val and
    test, and (with ``outdir``) save the run.

    Returns the run record (what ``run.json`` holds, plus ``_model`` and ``_split``).
    """
    from .models import predict, train_model
    from .report import compute_metrics, write_run_report

    split = split_windows(ws, split_kind, seed=cfg.seed if split_seed is None else split_seed,
                          group_by=group_by)
    if outdir is not None:
        outdir.mkdir(parents=True, exist_ok=True)
    ckpt = outdir / "model.keras" if outdir is not None else None
    res = train_model(split, cfg, checkpoint=ckpt, desc=desc)
    space = ws.space
    metrics = {}
    for name in ("val", "test"):
        part = getattr(split, name)
        metrics[name] = compute_metrics(space.task, part.y, predict(res.model, part.X), cfg.threshold,
                                        space.labels)
    run = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "task": space.task,
        "exercise": space.exercise,
        "labels": list(space.labels),
        "conditions": [{"key": c.key, "name": c.name, "cue": c.cue} for c in space.conditions],
        "feature_spec": ws.spec.to_dict(),
        "config": cfg.to_dict(),
        "threshold": cfg.threshold,
        "split": split.describe(),
        "data": {**data_desc, "windows": ws.info},
        "metrics": metrics,
        "params": res.params,
        "epochs_run": res.epochs_run,
        "best_epoch": res.best_epoch,
        "train_seconds": res.seconds,
        "history": res.history,
        "model_file": "model.keras",
    }
    run = jsonable(run)
    if outdir is not None:
        res.model.save(outdir / "model.keras")  # the best epoch's weights (restored after training)
        (outdir / "run.json").write_text(json.dumps(run, indent=1, ensure_ascii=False), encoding="utf-8")
        if save_arrays:
            # Both held-out parts (val chose the epoch, test never touched training): the parity
            # gate compares Keras with TFLite on them — twice the windows, so one borderline
            # window flipping by a quantisation step weighs half as much.
            np.savez_compressed(outdir / "heldout.npz", X=np.concatenate([split.val.X, split.test.X]),
                                y=np.concatenate([split.val.y, split.test.y]),
                                part=np.array([0] * len(split.val) + [1] * len(split.test), np.int8))
            np.savez_compressed(outdir / "representative.npz",
                                X=representative_sample(split.train, seed=cfg.seed))
        if report:
            write_run_report(outdir, run, res.history)
    run["_model"] = res.model
    run["_split"] = split
    return run


def load_run_meta(run_dir: Path) -> tuple[dict, FeatureSpec, LabelSpace]:
    """A run's record, feature spec and label space (to evaluate or fine-tune its model)."""
    path = Path(run_dir) / "run.json"
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable run record ({e})") from None
    conds = tuple(CondLabel(c["key"], c["name"], c.get("cue", "")) for c in run.get("conditions", []))
    space = LabelSpace(run["task"], run["exercise"], tuple(run["labels"]), conds)
    return run, FeatureSpec.from_dict(run["feature_spec"]), space


def load_run_model(run_dir: Path):
    import keras

    from . import models as _models  # noqa: F401  registers MaskedBCE

    return keras.models.load_model(Path(run_dir) / "model.keras", compile=False)
