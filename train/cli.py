"""``formcheck-train``: train form / condition / exercise models, compare the paper's models,
and regenerate the shipped default bundles.

Subcommands (``fit`` is the default when the first argument is an option)::

    formcheck-train fit --data DIR [DIR ...] --task conditions --exercise squat -o runs/squat
    formcheck-train fit --data DIR --preset paper --task form --model cnn -o runs/paper-cnn
    formcheck-train compare --data DIR --preset paper --seeds 5 -o runs/compare  # Tables 5-7
    formcheck-train evaluate runs/squat --data data/aihub            # a run's model on other data
    formcheck-train fit --data data/aihub --init runs/squat -o runs/squat-ft   # fine-tune
    formcheck-train defaults --data data/synth -o device/models      # the shipped bundles

A run directory holds ``model.keras`` (best epoch), ``run.json`` (spec, labels, split,
metrics, history), ``heldout.npz`` (val + test windows, for the converter's parity gate),
``representative.npz`` (training windows for int8 calibration) and ``report.md`` + PNGs.
Convert it with ``formcheck-convert RUN_DIR``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

from formcheck.device.judging.features import ANGLE_UNITS, FEATURE_SETS, NORMALISATIONS, WINDOW_MODES, FeatureSpec

from .data import (
    GROUP_BY,
    SPLITS,
    TASKS,
    CondLabel,
    DataError,
    LabelSpace,
    WindowSet,
    build_windows,
    describe_data,
    exercises_in,
    load_sequences,
    representative_sample,
    split_windows,
)

log = logging.getLogger(__name__)

MODEL_CHOICES = ("rnn", "lstm", "cnn", "prod")  # formcheck.train.models.MODELS (no TF import here)

# The paper's settings (JIIBC 22(5) 2022): Adam, binary cross-entropy, a fixed 100 epochs,
# batch 32, window 15, split 8:1:1, image coordinates, windows shuffled before splitting. No
# early stopping (patience 0): it stops a slow starter — the LSTM sits at chance for its first
# 30-40 epochs on the AI-Hub sample — long before the paper's 100 epochs. The best epoch by
# validation loss is still the one kept. Features are standardised (training mean and sd) in
# front of every model: the paper gives no input scaling, and without it the ordering measures
# input units (plain degrees beside image coordinates saturate the SimpleRNN and blow up the
# CNN), not architectures; with it the ordering does not depend on the units (docs/training.md).
PRESETS = {
    "paper": {"epochs": 100, "batch": 32, "lr": 1e-3, "window": 15, "window_mode": "sliding",
              "normalisation": "none", "angle_unit": "degrees", "split": "random-window", "patience": 0,
              "standardize": True},
}
DEFAULTS = {"task": "conditions", "exercise": "all", "model": "prod", "features": "landmarks+angles",
            "normalisation": "body-upright", "angle_unit": "unit", "window_mode": "sliding", "split": "grouped",
            "group_by": "group", "epochs": 60, "batch": 32, "lr": 1e-3, "window": 15,
            "sample_rate": 15.0, "stride": 1, "patience": 12, "seed": 0, "class_weight": "balanced",
            "threshold": 0.5, "mirror": False, "rep_jitter": 0}


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if math.isnan(float(o)) else float(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    return o


def safe_name(s: str) -> str:
    return re.sub(r"[^\w.+-]+", "_", s.strip(), flags=re.UNICODE) or "_"


def run_name(task: str, exercise: str) -> str:
    return "recogniser" if task == "exercise" else f"{safe_name(exercise)}-{task}"


# ---- one training run ----------------------------------------------------------------------

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
    run = _jsonable(run)
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


# ---- argument handling ---------------------------------------------------------------------

def _add_common(p: argparse.ArgumentParser, compare: bool = False) -> None:
    p.add_argument("--data", nargs="+", required=True, metavar="DIR",
                   help="landmark dataset directories (formcheck-extract / formcheck-synth output)")
    p.add_argument("--task", choices=TASKS, help="form: correct/incorrect (the paper's); conditions: one "
                   "sigmoid per condition; exercise: which exercise (+ idle). Default: conditions "
                   "(compare: form)")
    p.add_argument("--exercise", metavar="ID[,ID...]|all",
                   help="exercise id(s) (e.g. squat or squat,deadlift) or 'all' for one model per exercise "
                        "in the data (default all)")
    if not compare:
        p.add_argument("--model", choices=MODEL_CHOICES, help="rnn, lstm, cnn (the paper's) or prod "
                       "(ours, Pi-sized; default)")
        p.add_argument("--features", choices=FEATURE_SETS, help="feature set (default landmarks+angles)")
        p.add_argument("--split", choices=SPLITS, help="grouped (default: by clip/subject) or random-window "
                       "(the paper's protocol; inflated by overlapping windows)")
    p.add_argument("--normalisation", choices=NORMALISATIONS,
                   help="coordinate normalisation (default body-upright; paper preset: none)")
    p.add_argument("--angle-unit", choices=ANGLE_UNITS, dest="angle_unit",
                   help="joint angles as degrees/180 (unit, default) or plain degrees (the paper "
                        "preset: as the paper's code computed them, unscaled)")
    p.add_argument("--window-mode", choices=WINDOW_MODES, dest="window_mode",
                   help="sliding (the paper) or rep (one window per rep; AI-Hub clips are one rep)")
    p.add_argument("--group-by", choices=GROUP_BY, dest="group_by",
                   help="the unit the grouped split keeps together (default group: a clip with its views)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="paper: Adam, BCE, a fixed 100 epochs (no early "
                   "stopping; best epoch by val loss kept), batch 32, window 15, 8:1:1, image coordinates, "
                   "random-window split (explicit flags win)")
    p.add_argument("--epochs", type=int, help="maximum epochs (default 60; paper 100)")
    p.add_argument("--batch", type=int, help="batch size (default 32)")
    p.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 12; 0: never stop early, as the paper preset)")
    p.add_argument("--window", type=int, help="samples per window (default 15)")
    p.add_argument("--sample-rate", type=float, dest="sample_rate", help="Hz of sliding windows (default 15)")
    p.add_argument("--stride", type=int, help="samples between training windows (default 1)")
    p.add_argument("--min-visibility", type=float, dest="min_visibility",
                   help="landmarks below this BlazePose visibility count as missing (feature spec; "
                        f"default {FeatureSpec().min_visibility})")
    p.add_argument("--class-weight", choices=("balanced", "none"), dest="class_weight",
                   help="weight classes (per condition) to balance the loss (default balanced)")
    p.add_argument("--threshold", type=float, help="decision threshold on probabilities (default 0.5)")
    p.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                   help="also train on the left-right mirror image of every training window (needs a "
                        "body-centred normalisation; default off)")
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                   help="standardise each feature (training mean and sd) in front of the model (default: "
                        "prod only; paper preset: every model; --no-standardize: the paper's models "
                        "see the raw features)")
    p.add_argument("--rep-jitter", type=int, dest="rep_jitter", metavar="N",
                   help="rep windows: N more windows per labelled rep, cut in or out by 5-25%% at each end "
                        "as the station's rep counter may cut it (default 0; `defaults`: 2)")
    p.add_argument("--seed", type=int, help="random seed (default 0): same seed, same model"
                   + ("; with --seeds N the first of N" if compare else ""))
    if compare:
        p.add_argument("--seeds", type=int, default=1, metavar="N",
                       help="repeat every cell with N seeds (seed, seed+1, ...; each its own split and "
                            "initialisation, shared by all models) and report mean ± sd (default 1)")
    if not compare:
        p.add_argument("--init", type=Path, metavar="RUN_DIR",
                       help="fine-tune: start from this run's model (its features, labels and architecture), "
                            "e.g. pre-train on synthetic data, fine-tune on AI-Hub")
    p.add_argument("-o", "--out", required=True, type=Path, help="output directory")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def resolve(args: argparse.Namespace, overrides: dict | None = None) -> argparse.Namespace:
    """Explicit flags > preset > command defaults > DEFAULTS."""
    preset = PRESETS.get(getattr(args, "preset", None) or "", {})
    merged = {**DEFAULTS, **(overrides or {}), **preset}
    for k, v in merged.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    return args


def make_spec(args, feature_set: str | None = None) -> FeatureSpec:
    extra = {} if args.min_visibility is None else {"min_visibility": float(args.min_visibility)}
    return FeatureSpec(feature_set=feature_set or args.features, normalisation=args.normalisation,
                       angle_unit=args.angle_unit, window=args.window, window_mode=args.window_mode,
                       sample_rate=float(args.sample_rate), stride=args.stride, **extra)


def make_config(args, model: str | None = None):
    from .models import TrainConfig

    return TrainConfig(model=model or args.model, epochs=args.epochs, batch=args.batch, lr=args.lr,
                       patience=args.patience, seed=args.seed, class_weight=args.class_weight,
                       threshold=args.threshold, mirror=bool(args.mirror), standardize=args.standardize,
                       progress=not args.quiet)


def targets(args, seqs) -> list[str]:
    """The exercises to train one model each for (``[""]`` for the recogniser)."""
    if args.task == "exercise":
        return [""]
    present = exercises_in(seqs)
    if args.exercise == "all":
        if not present:
            raise DataError("--exercise all: the data has no labelled exercises")
        return present
    wanted = [e.strip() for e in args.exercise.split(",") if e.strip()]
    missing = [e for e in wanted if e not in present]
    if missing:
        raise DataError(f"--exercise: {missing[0]!r} is not in the data (found: {', '.join(present)})")
    return wanted


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


def cmd_fit(args) -> int:
    init = None
    if args.init:
        # Fine-tuning: the pre-trained run fixes the features, the outputs and the architecture;
        # conditions the new data does not label (AI-Hub's rom) stay masked, not dropped.
        init = load_run_meta(args.init)
        task = init[2].task
        if args.task not in (None, task):
            raise DataError(f"--init: {args.init} is a {task!r} model, not {args.task!r}")
        args.task = task
        if task != "exercise":
            args.exercise = init[2].exercise
    args = resolve(args)
    seqs = load_sequences(args.data)
    desc = describe_data(args.data, seqs)
    spec = make_spec(args)
    cfg = make_config(args)
    space = None
    if init is not None:
        init_run, spec, space = init
        cfg.model = init_run["config"]["model"]
        cfg.init = str(Path(args.init) / "model.keras")
        desc = {**desc, "pretrained_on": init_run.get("data", {}).get("datasets")}
    exs = targets(args, seqs)
    rows = []
    for ex in exs:
        out = args.out if len(exs) == 1 else args.out / run_name(args.task, ex)
        try:
            ws = build_windows(seqs, spec, args.task, ex, args.group_by, progress=not args.quiet, space=space,
                               rep_jitter=args.rep_jitter)
            run = fit_one(ws, cfg, args.split, args.group_by, out, desc,
                          desc=f"{ex or 'recogniser'} {args.task} {cfg.model}")
        except DataError as e:
            if len(exs) == 1:
                raise
            log.error("%s: %s", ex, e)
            print(f"{ex}: skipped ({e})", file=sys.stderr)
            continue
        t = run["metrics"]["test"]
        rows.append((ex or "recogniser", run["split"]["windows"]["test"], t["accuracy"], t["f1"],
                     run["train_seconds"], out))
    print(f"{'exercise':<16} {'test win':>8} {'acc':>6} {'F1':>6} {'train s':>8}  run")
    for ex, n, acc, f1, s, out in rows:
        print(f"{ex:<16} {n:>8} {_f(acc)} {_f(f1)} {s:>8.1f}  {out}")
    return 0 if rows else 1


def cmd_evaluate(args) -> int:
    """Score a trained run's model on other data (e.g. a synthetic-only model on real clips)."""
    from .models import predict
    from .report import compute_metrics, fmt

    if args.run.suffix in (".json", ".tflite"):  # a device bundle: what ships, int8 and all
        from formcheck.device.judging.bundle import BundleError, load_bundle
        from formcheck.device.judging.classifier import Classifier

        try:
            bundle = load_bundle(args.run)
        except BundleError as e:
            raise DataError(str(e)) from None
        spec, thr = bundle.spec, float(bundle.threshold)
        space = LabelSpace(bundle.task, bundle.exercise, tuple(bundle.labels),
                           tuple(CondLabel(c.key, c.name, c.cue) for c in bundle.conditions))
        score = Classifier(bundle).predict
    else:
        run, spec, space = load_run_meta(args.run)
        thr = float(run.get("threshold", 0.5))
        model = load_run_model(args.run)

        def score(X):
            return predict(model, X)
    seqs = load_sequences(args.data)
    ws = build_windows(seqs, spec, space.task, space.exercise, progress=not args.quiet, space=space)
    m = compute_metrics(space.task, ws.y, score(ws.X), thr, space.labels)
    name = space.exercise or "recogniser"
    print(f"{name} {space.task}: {len(ws)} windows from {ws.info['sequences']} sequences "
          f"({', '.join(map(str, args.data))}) — accuracy {fmt(m['accuracy'])}, macro-F1 {fmt(m['f1'])}")
    print(f"{'label':<22} {'F1':>6} {'acc':>6} {'n':>6}")
    for lab, v in m["per_label"].items():
        print(f"{lab:<22} {fmt(v['f1']):>6} {fmt(v.get('accuracy')):>6} {v['n']:>6}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(_jsonable({"run": str(args.run), "data": describe_data(args.data, seqs),
                                                  "metrics": m}), indent=1, ensure_ascii=False))
    return 0


def _f(v) -> str:
    return "     –" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:6.3f}"


def cmd_compare(args) -> int:
    """The paper's table: model × feature set for each exercise, under both splits."""
    from .report import write_compare_report

    args.model = args.features = args.split = None
    args = resolve(args, overrides={"task": "form"})
    models = [m.strip() for m in args.models.split(",")]
    feature_sets = [f.strip() for f in args.feature_sets.split(",")]
    splits = [s.strip() for s in args.splits.split(",")]
    for name, vals, allowed in (("--models", models, MODEL_CHOICES), ("--feature-sets", feature_sets,
                                FEATURE_SETS), ("--splits", splits, SPLITS)):
        bad = [v for v in vals if v not in allowed]
        if bad:
            raise DataError(f"{name}: {bad[0]!r} is not one of {allowed}")
    if args.seeds < 1:
        raise DataError(f"--seeds: must be at least 1, got {args.seeds}")
    # Every model sees the same split and the same seed within a seed: paired comparisons.
    seeds = [args.seed + i for i in range(args.seeds)]
    seqs = load_sequences(args.data)
    desc = describe_data(args.data, seqs)
    exs = targets(args, seqs)
    rows = []
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    for ex in exs:
        for fs in feature_sets:
            spec = make_spec(args, fs)
            try:
                ws = build_windows(seqs, spec, args.task, ex, args.group_by, progress=False,
                                   rep_jitter=args.rep_jitter)
            except DataError as e:
                print(f"{ex} {fs}: skipped ({e})", file=sys.stderr)
                continue
            for sp in splits:
                for seed in seeds:
                    for m in models:
                        name = f"{m}-{fs}-{sp}" + (f"-seed{seed}" if len(seeds) > 1 else "")
                        out = args.out / "runs" / safe_name(ex or "recogniser") / name
                        cfg = make_config(args, m)
                        cfg.seed = seed
                        try:
                            run = fit_one(ws, cfg, sp, args.group_by, out, desc,
                                          save_arrays=False, desc=f"{ex} {m} {fs} {sp} seed {seed}")
                        except DataError as e:
                            print(f"{ex} {m} {fs} {sp} seed {seed}: skipped ({e})", file=sys.stderr)
                            continue
                        t = run["metrics"]["test"]
                        yt = run["_split"].test.y
                        row = {"exercise": ex or "recogniser", "model": m, "features": fs, "split": sp,
                               "seed": seed, "accuracy": t["accuracy"], "f1": t["f1"], "n_test": t["n"],
                               "one_class_test": bool(args.task == "form" and len(np.unique(yt[:, 0])) < 2),
                               "seconds": run["train_seconds"], "epochs": run["epochs_run"],
                               "best_epoch": run["best_epoch"] + 1}
                        if args.task == "form":
                            row["confusion"] = t["confusion"]
                        rows.append(row)
                        print(f"{row['exercise']:<16} {m:<5} {fs:<17} {sp:<14} seed {seed:<3} acc "
                              f"{_f(t['accuracy'])} F1 {_f(t['f1'])} (n={t['n']}, best epoch "
                              f"{row['best_epoch']}/{row['epochs']}, {run['train_seconds']:.0f} s)", flush=True)
    if not rows:
        print("compare: nothing trained", file=sys.stderr)
        return 1
    meta = {"task": args.task, "data": desc.get("datasets"), "window": args.window,
            "window_mode": args.window_mode, "normalisation": args.normalisation, "angle_unit": args.angle_unit,
            "stride": args.stride,
            "epochs": args.epochs, "patience": args.patience, "batch": args.batch, "lr": args.lr,
            "class_weight": args.class_weight, "standardize": args.standardize,
            "seed": args.seed, "seeds": seeds, "preset": args.preset}
    (args.out / "compare.json").write_text(json.dumps(_jsonable({"meta": meta, "rows": rows}), indent=1,
                                                      ensure_ascii=False), encoding="utf-8")
    path = write_compare_report(args.out, rows, meta)
    print(f"compare: {len(rows)} runs in {time.perf_counter() - t0:.0f} s; report {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="formcheck-train",
        description="Train formcheck's models (Keras 3) from landmark datasets. Run directories are "
                    "converted to device bundles with formcheck-convert.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fit", help="train one model per exercise (or the recogniser)",
                       description="Train models; one run directory per exercise with --exercise all.")
    _add_common(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("compare", help="the paper's comparison: model x feature set per exercise, both splits",
                       description="Train every model x feature set for each exercise under each split and "
                                   "write report.md in the layout of the paper's Tables 5-7.")
    _add_common(p, compare=True)
    p.add_argument("--models", default="rnn,lstm,cnn", help="comma list (default rnn,lstm,cnn)")
    p.add_argument("--feature-sets", dest="feature_sets", default="landmarks,landmarks+angles",
                   help="comma list (default landmarks,landmarks+angles)")
    p.add_argument("--splits", default="random-window,grouped", help="comma list (default both)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("evaluate", help="score a trained run or a device bundle on other data",
                       description="Evaluate a run's model, or a device bundle (NAME.json: the int8 model "
                                   "that ships), on another dataset, e.g. a model trained on synthetic data "
                                   "on real AI-Hub clips. Conditions the data does not label (AI-Hub's rom) "
                                   "are left out of the figures.")
    p.add_argument("run", type=Path, metavar="RUN_DIR|BUNDLE.json")
    p.add_argument("--data", nargs="+", required=True, metavar="DIR")
    p.add_argument("-o", "--out", type=Path, help="also write the metrics as JSON here")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    from .defaults import add_parser as add_defaults

    add_defaults(sub)
    from .personal import add_parser as add_personal

    add_personal(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv.insert(0, "fit")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except DataError as e:
        print(f"formcheck-train: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
