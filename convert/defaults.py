"""``formcheck-convert defaults``: regenerate the bundles shipped in ``formcheck/device/models``.

From a synthetic dataset (``formcheck-synth`` output), for each of the nine exercises a
``conditions`` model and a ``form`` model, plus the exercise recogniser: production CNNs,
trained with a grouped split, converted to full-integer int8 behind the parity gate, checked
against the size budget (64 KB each), and written as bundles — all or nothing::

    formcheck-synth -o data/synth ...                     # see formcheck-synth --help
    formcheck-convert defaults --data data/synth -o device/models

Form and condition models use ``rep`` windows (one verdict per rep, tempo invariant; on
synthetic data they score far better than 1-second sliding windows, which see part of a rep);
the recogniser uses ``sliding`` windows (it must name the exercise before any rep is counted).
The feature spec's ``min_visibility`` is 0: BlazePose always places all 33 points on a person,
and occluded or out-of-frame joints (a side view's far arm, feet below the frame) would
otherwise invalidate most frames of real side-view clips. The
printed table holds the held-out metrics (Keras and int8) and the training time per model — the
benchmark for "time to train the nine production CNNs + the recogniser on this machine".
It trains and converts, so it lives in ``convert`` (which imports ``train``; never the reverse).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from formcheck.device.exercises import EXERCISE_IDS, IDLE
from formcheck.device.judging.bundle import default_bundle_dir
from formcheck.device.judging.features import FeatureSpec
from formcheck.train.data import DataError, build_windows, describe_data, exercises_in, load_sequences
from formcheck.train.models import TrainConfig
from formcheck.train.runs import fit_one, run_name

from .bundling import convert_run, write_all

log = logging.getLogger(__name__)


@dataclass
class Row:
    name: str
    task: str
    windows: str
    keras_acc: float
    keras_f1: float
    int8_acc: float
    int8_f1: float
    kb: float
    seconds: float
    ok: bool
    note: str = ""


def add_parser(sub) -> None:
    """The ``defaults`` subcommand on a subparsers object (``formcheck-convert defaults``)."""
    p = sub.add_parser(
        "defaults", help="regenerate the shipped default bundles from synthetic data",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="synthetic dataset directories")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="bundle directory (default: the installed package's formcheck/device/models)")
    p.add_argument("--work", type=Path, help="keep the training runs here (default: a temporary folder)")
    p.add_argument("--exercises", default="all", help="comma list of exercise ids (default all nine)")
    p.add_argument("--tasks", default="conditions,form,exercise", help="comma list (default all three)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--patience", type=int, default=12)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--normalisation", default="body-upright")
    p.add_argument("--window-mode", dest="window_mode", default="rep",
                   help="windows of the form/conditions models (default rep)")
    p.add_argument("--recogniser-stride", dest="recogniser_stride", type=int, default=6,
                   help="samples between the recogniser's training windows (default 6 = 0.4 s: "
                        "neighbours closer than that are near-duplicates that only cost memory)")
    p.add_argument("--recogniser-batch", dest="recogniser_batch", type=int, default=64,
                   help="the recogniser's batch size (default 64: it has ~20x more windows)")
    p.add_argument("--recogniser-sparse", dest="recogniser_sparse", type=int, default=0, metavar="N",
                   help="the recogniser also trains on N sped-up copies of every clip (6-20x, "
                        "train.data.SPARSE_SPEED): windows of frames far apart that hold several reps and "
                        "the set's end, as AI-Hub's sparse labelled frames do (default 0 = real time only: "
                        "2 or 4 recognise AI-Hub's presses better but no training yet passed every gate; "
                        "docs/training.md)")
    p.add_argument("--recogniser-feet-unseen", dest="recogniser_feet_unseen", type=float, default=0.0,
                   metavar="F", help="the recogniser's features show feet out of view as unknown "
                        "(feature spec unseen_feet = shins_down) and it also trains on a copy of this "
                        "fraction of the clips with the feet out of view (default 0: BlazePose's points "
                        "as reported; docs/training.md)")
    p.add_argument("--min-visibility", dest="min_visibility", type=float, default=0.0,
                   help="feature spec: landmarks below this visibility are missing (default 0: every "
                        "frame with a person is judged, occluded joints at BlazePose's estimate)")
    p.add_argument("--group-by", dest="group_by", default="subject", choices=("group", "subject"),
                   help="grouped-split unit (default subject: held-out people)")
    p.add_argument("--max-loss", dest="max_loss", type=float, default=0.01, help="parity gate (default 0.01)")
    p.add_argument("--max-kb", dest="max_kb", type=float, default=64.0, help="size budget per bundle (KB)")
    p.add_argument("--rep-jitter", type=int, default=2, dest="rep_jitter", metavar="N",
                   help="form and condition models: N more windows per labelled rep, cut in or out at "
                        "both ends as the station's rep counter cuts reps (default 2; 0 = the labelled spans only)")
    p.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=False,
                   help="train the form and condition models on the left-right mirror image of every "
                        "training window too (default off: better on synthetic people, worse on the real "
                        "clips; never for the recogniser)")
    p.add_argument("--candidates", type=int, default=1,
                   help="form/condition models: train this many seeds and keep the best by validation "
                        "F1 (default 1; the recogniser always trains one)")
    p.add_argument("--retries", type=int, default=2,
                   help="retrain a model from another initialisation seed (same split) when its int8 "
                        "conversion fails the parity gate, up to this many times (default 2)")
    p.add_argument("--force", action="store_true", help="write even when a gate fails")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_defaults)


def _val_f1(run: dict) -> float:
    """The validation F1 of a run's kept (best) epoch; -1 when unknown."""
    h = run.get("history", {}).get("val_f1") or []
    b = run.get("best_epoch")
    v = h[b] if isinstance(b, int) and 0 <= b < len(h) else (max(h) if h else -1.0)
    return -1.0 if v is None or v != v else float(v)


def _fmt(v) -> str:
    return "    –" if v is None or v != v else f"{v:.3f}"


def cmd_defaults(args) -> int:
    out = args.out or default_bundle_dir()
    tasks = [t.strip() for t in args.tasks.split(",")]
    seqs = load_sequences(args.data)
    desc = describe_data(args.data, seqs)
    present = exercises_in(seqs)
    wanted = list(EXERCISE_IDS) if args.exercises == "all" else [e.strip() for e in args.exercises.split(",")]
    missing = [e for e in wanted if e not in present]
    if missing:
        raise DataError(f"--data: no sequences for {', '.join(missing)} (found {', '.join(present)})")
    if "exercise" in tasks and not any(s.exercise == IDLE or s.label == IDLE for s in seqs):
        log.warning("no idle sequences in the data: the recogniser's 'idle' class gets no training")

    plan = [(t, e) for e in wanted for t in ("conditions", "form") if t in tasks]
    if "exercise" in tasks:
        plan.append(("exercise", ""))
    work_tmp = None
    if args.work is None:
        work_tmp = tempfile.TemporaryDirectory(prefix="formcheck-defaults-")
        work = Path(work_tmp.name)
    else:
        work = args.work
    rows: list[Row] = []
    converted = []
    t_all = time.perf_counter()
    try:
        for task, ex in plan:
            name = run_name(task, ex)
            rec = task == "exercise"
            feet = args.recogniser_feet_unseen if rec else 0.0
            spec = FeatureSpec(normalisation=args.normalisation, min_visibility=args.min_visibility,
                               window_mode="sliding" if rec else args.window_mode,
                               stride=args.recogniser_stride if rec else 1,
                               unseen_feet="shins_down" if feet > 0 else "as_reported")
            try:
                ws = build_windows(seqs, spec, task, ex, args.group_by, progress=not args.quiet,
                                   rep_jitter=args.rep_jitter, sparse=args.recogniser_sparse if rec else 0,
                                   feet_unseen=feet)
                # --candidates N trains N initialisations and keeps the best by validation F1
                # (the test windows never choose). Off by default: on held-out synthetic reps
                # (bench/verdicts.py) best-of-3 judged no better than seed 0. A model whose held-out windows
                # sit on the decision threshold can lose a window or two to int8 rounding; then
                # the next best (or a retrain, up to --retries more) is taken. The gate still
                # holds for whatever ships: its int8 figures are within --max-loss of Keras.
                n_cand = 1 if rec else max(1, args.candidates)
                seconds = 0.0
                runs: list[tuple[float, int, Path, dict]] = []
                failed_gate: set[int] = set()
                c = None
                for attempt in range(n_cand + args.retries):
                    seed = args.seed + 1000 * attempt
                    cfg = TrainConfig(model="prod", epochs=args.epochs, patience=args.patience, seed=seed,
                                      batch=args.recogniser_batch if rec else args.batch,
                                      mirror=args.mirror and not rec, progress=not args.quiet)
                    rdir = work / name / f"seed{seed}"
                    run = fit_one(ws, cfg, "grouped", args.group_by, rdir, desc, desc=name,
                                  report=args.work is not None,  # per-run reports only when kept
                                  split_seed=args.seed)  # same held-out people on every attempt
                    seconds += run["train_seconds"]
                    runs.append((_val_f1(run), seed, rdir, run))
                    if attempt < n_cand - 1:
                        continue
                    for _val, s_, d_, r_ in sorted(runs, key=lambda x: -x[0]):
                        if s_ in failed_gate:
                            continue
                        c = convert_run(d_, "int8", args.max_loss)
                        if c.parity.passed:
                            run = r_
                            break
                        failed_gate.add(s_)
                        print(f"{name}: int8 parity gate failed with seed {s_} ({c.parity.summary()})",
                              file=sys.stderr)
                    if c is not None and c.parity.passed:
                        break
            except DataError as e:
                rows.append(Row(name, task, "–", *(float("nan"),) * 4, 0.0, 0.0, False, str(e)))
                print(f"{name}: FAILED ({e})", file=sys.stderr)
                continue
            run["train_seconds"] = seconds
            kb = c.bundle.size_bytes / 1024
            ok = c.parity.passed and kb <= args.max_kb
            note = "" if c.parity.passed else "parity gate"
            if kb > args.max_kb:
                note = (note + ", " if note else "") + f"> {args.max_kb:g} KB"
            w = run["split"]["windows"]
            rows.append(Row(name, task, f"{w['train']}/{w['val']}/{w['test']}",
                            c.parity.keras["accuracy"], c.parity.keras["f1"], c.parity.tflite["accuracy"],
                            c.parity.tflite["f1"], kb, run["train_seconds"], ok, note))
            converted.append(c)
            print(f"{name:<26} held-out acc {_fmt(c.parity.keras['accuracy'])} F1 {_fmt(c.parity.keras['f1'])}"
                  f" | int8 acc {_fmt(c.parity.tflite['accuracy'])} F1 {_fmt(c.parity.tflite['f1'])}"
                  f" | {kb:.1f} KB | {run['train_seconds']:.0f} s {'OK' if ok else 'FAIL ' + note}",
                  flush=True)
        total_s = time.perf_counter() - t_all
        print()
        print(table(rows, total_s))
        failed = [r for r in rows if not r.ok]
        if failed and not args.force:
            print(f"defaults: {len(failed)} model(s) failed ({', '.join(r.name for r in failed)}); "
                  f"nothing written to {out} (--force to write the others anyway)", file=sys.stderr)
            return 1
        paths = write_all(converted, out)
        total_kb = sum(p.stat().st_size + p.with_suffix(".tflite").stat().st_size for p in paths) / 1024
        print(f"wrote {len(paths)} bundles to {out} ({total_kb:.0f} KB with metadata)")
        if work_tmp is None:
            (work / "defaults.md").write_text(table(rows, total_s) + "\n", encoding="utf-8")
        return 0 if not failed else 1
    finally:
        if work_tmp is not None:
            work_tmp.cleanup()


def table(rows: list[Row], total_s: float) -> str:
    lines = ["Held-out = the validation + test windows (subjects never seen in training); macro-F1.", "",
             "| bundle | task | windows train/val/test | Keras acc | Keras F1 | int8 acc | int8 F1 | KB | train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {r.task} | {r.windows} | {_fmt(r.keras_acc)} | {_fmt(r.keras_f1)} | "
                     f"{_fmt(r.int8_acc)} | {_fmt(r.int8_f1)} | {r.kb:.1f} | {r.seconds:.0f} |"
                     + (f" {r.note}" if r.note else ""))
    train_s = sum(r.seconds for r in rows)
    lines.append("")
    lines.append(f"{len(rows)} models: training {train_s:.0f} s, whole run (windows, training, "
                 f"conversion, parity) {total_s:.0f} s; int8 total {sum(r.kb for r in rows):.0f} KB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``formcheck-convert defaults ARGS``: ``argv`` without the word ``defaults``."""
    ap = argparse.ArgumentParser(prog="formcheck-convert")
    add_parser(ap.add_subparsers(dest="cmd", required=True))
    args = ap.parse_args(["defaults", *(sys.argv[2:] if argv is None else argv)])
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return cmd_defaults(args)
    except DataError as e:
        print(f"formcheck-convert defaults: {e}", file=sys.stderr)
        return 2
