"""Training benchmark: time to train the nine production condition CNNs + the exercise
recogniser on this machine, per model and in total, 1 CPU thread vs all — one table.

    python bench/train.py                                   # ~5-10 min on 2 busy cores
    python bench/train.py --data data/synth                 # an existing formcheck-synth dataset
    python bench/train.py --clips-per-exercise 300 --epochs 60 --repeat 1   # full size (long)

Without ``--data`` it first generates a synthetic dataset with formcheck-synth's Python API
(all nine exercises + idle, ``--clips-per-exercise`` clips each). Each model is trained the way
``formcheck-convert defaults`` trains the shipped bundles — the same feature specs (``rep``
windows for condition models, ``sliding`` every 0.4 s for the recogniser), batch sizes, split
and code path (:func:`formcheck.train.runs.fit_one`, :func:`formcheck.convert.bundling.convert_run`)
— but for a fixed ``--epochs`` (no early stopping), so runs are comparable.

Per model it times: building the windows (features + windowing, from sequences already in
memory), training (``model.fit``: ``--epochs`` epochs) and conversion to int8 with the parity
gate; the median of ``--repeat`` runs. Each thread count runs in its own process (TensorFlow
fixes its thread pools at start-up); the first one is the baseline of the speed-up column.
Loading the dataset from disk is timed once per process and reported below the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def defaults_args(data: str) -> argparse.Namespace:
    """``formcheck-convert defaults``' own option defaults (batch sizes, strides, spec, split unit)."""
    from formcheck.convert.defaults import add_parser

    ap = argparse.ArgumentParser()
    add_parser(ap.add_subparsers(dest="cmd"))
    return ap.parse_args(["defaults", "--data", data])


def plan(tasks: list[str], exercises: list[str]) -> list[tuple[str, str]]:
    """(task, exercise) per model, in the order ``defaults`` trains them."""
    out = [(t, e) for e in exercises for t in ("conditions", "form") if t in tasks]
    if "exercise" in tasks:
        out.append(("exercise", ""))
    return out


def worker(args) -> dict:
    """Time every model of the plan in this process (``--threads`` TensorFlow threads)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from formcheck.convert.bundling import convert_run
    from formcheck.device.exercises import EXERCISE_IDS
    from formcheck.device.judging.features import FeatureSpec
    from formcheck.train.data import build_windows, describe_data, load_sequences
    from formcheck.train.models import TrainConfig
    from formcheck.train.runs import fit_one, run_name

    d = defaults_args(args.data[0])
    t0 = time.perf_counter()
    seqs = load_sequences(args.data)
    load_s = time.perf_counter() - t0
    desc = describe_data(args.data, seqs)
    exercises = list(EXERCISE_IDS) if args.exercises == "all" else args.exercises.split(",")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        for task, ex in plan(args.tasks.split(","), exercises):
            name = run_name(task, ex)
            rec = task == "exercise"
            # the spec cmd_defaults builds for this task (formcheck.convert.defaults)
            spec = FeatureSpec(normalisation=d.normalisation, min_visibility=d.min_visibility,
                               window_mode="sliding" if rec else d.window_mode,
                               stride=d.recogniser_stride if rec else 1)
            win_s, train_s, fit_s, conv_s = [], [], [], []
            for r in range(args.repeat):
                t0 = time.perf_counter()
                ws = build_windows(seqs, spec, task, ex, d.group_by, rep_jitter=d.rep_jitter)
                win_s.append(time.perf_counter() - t0)
                cfg = TrainConfig(model="prod", epochs=args.epochs, patience=0, seed=d.seed,
                                  batch=d.recogniser_batch if rec else d.batch,
                                  mirror=d.mirror and not rec, progress=False)
                out = Path(tmp) / f"{name}-{r}"
                t0 = time.perf_counter()
                run = fit_one(ws, cfg, "grouped", d.group_by, out, desc, report=False)
                fit_s.append(time.perf_counter() - t0)  # + split, evaluation, saving
                train_s.append(run["train_seconds"])
                t0 = time.perf_counter()
                c = convert_run(out, "int8", d.max_loss)
                conv_s.append(time.perf_counter() - t0)
            results.append({
                "name": name, "task": task, "windows": len(ws), "train_windows": run["split"]["windows"]["train"],
                "epochs": run["epochs_run"], "window_s": statistics.median(win_s),
                "train_s": statistics.median(train_s), "fit_s": statistics.median(fit_s),
                "convert_s": statistics.median(conv_s), "kb": c.bundle.size_bytes / 1024,
                "parity": bool(c.parity.passed),
            })
            print(f"  {args.threads} thread(s) {name}: train {results[-1]['train_s']:.1f} s, "
                  f"int8 {results[-1]['convert_s']:.1f} s", file=sys.stderr, flush=True)
    return {"threads": args.threads, "load_s": load_s, "sequences": len(seqs), "models": results,
            "tf_intra": tf.config.threading.get_intra_op_parallelism_threads()}


def table(runs: list[dict], args, gen: dict | None) -> str:
    base, rest = runs[0], runs[1:]
    last = runs[-1]
    n = last["threads"]
    lines = [f"Training benchmark — {len(last['models'])} production CNNs (prod, int8), "
             f"{args.epochs} epochs each (fixed), median of {args.repeat} run(s); "
             f"{platform.machine()}, {_cores()} cores, load average {os.getloadavg()[0]:.1f}", "",
             "| model | windows (train) | windowing s | " + " | ".join(f"train s @{r['threads']} thr" for r in runs)
             + (f" | speed-up {n} vs {base['threads']} thr" if rest else "")
             + f" | s/epoch @{n} | windows/s @{n} | int8 s @{n} | total s @{n} | int8 KB |",
             "|---|---:|---:|" + "---:|" * len(runs) + ("---:|" if rest else "") + "---:|---:|---:|---:|---:|"]

    def total(m):
        return m["window_s"] + m["fit_s"] + m["convert_s"]

    for i, m in enumerate(last["models"]):
        trains = [r["models"][i]["train_s"] for r in runs]
        b = base["models"][i]["train_s"]
        lines.append(
            f"| {m['name']}{'' if m['parity'] else ' (parity FAIL)'} | {m['windows']} ({m['train_windows']}) | "
            f"{m['window_s']:.2f} | " + " | ".join(f"{t:.1f}" for t in trains)
            + (f" | {b / m['train_s']:.2f}x" if rest else "")
            + f" | {m['train_s'] / m['epochs']:.2f} | {m['train_windows'] * m['epochs'] / m['train_s']:.0f} | "
            f"{m['convert_s']:.1f} | {total(m):.1f} | {m['kb']:.1f} |")
    tw = [sum(x["train_s"] for x in r["models"]) for r in runs]
    ms = last["models"]
    win = sum(x["train_windows"] * x["epochs"] for x in ms)
    lines.append(
        f"| **all {len(ms)}** | {sum(x['windows'] for x in ms)} ({sum(x['train_windows'] for x in ms)}) | "
        f"{sum(x['window_s'] for x in ms):.2f} | " + " | ".join(f"**{t:.1f}**" for t in tw)
        + (f" | {tw[0] / tw[-1]:.2f}x" if rest else "")
        + f" | {tw[-1] / args.epochs:.2f} | {win / tw[-1]:.0f} | {sum(x['convert_s'] for x in ms):.1f} | "
        f"**{sum(total(x) for x in ms):.1f}** | {sum(x['kb'] for x in ms):.0f} |")
    lines += ["",
              "train s = `model.fit` for the fixed epochs (the first epoch includes graph tracing); "
              "windows/s = training windows × epochs / train s; total = windowing + fit_one (split, "
              "training, evaluation, saving the run) + int8 conversion with the parity gate. "
              f"Threads = TensorFlow intra- and inter-op threads (process {n}: intra-op pool "
              f"{last['tf_intra']}).",
              f"Loading {last['sequences']} sequences from disk: {last['load_s']:.1f} s (once per process)."]
    if gen:
        lines.append(f"Dataset: generated with formcheck.train.synth ({gen['clips']} clips, "
                     f"{gen['frames']} frames, {gen['seconds']:.1f} s, {gen['workers']} worker(s)).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", help="formcheck-synth dataset(s) (default: generate one)")
    p.add_argument("--clips-per-exercise", dest="clips", type=int, default=12,
                   help="clips per exercise and idle clips when generating (default 12)")
    p.add_argument("--epochs", type=int, default=5, help="fixed epochs per model (default 5; defaults: 60 max)")
    p.add_argument("--repeat", type=int, default=3, help="runs per model (median; default 3)")
    p.add_argument("--threads", default=None,
                   help="comma list of TensorFlow thread counts, one process each; the first is the "
                        "baseline (default: 1 and all cores)")
    p.add_argument("--exercises", default="all", help="comma list of exercise ids (default all nine)")
    p.add_argument("--tasks", default="conditions,exercise",
                   help="comma list of conditions, form, exercise (default conditions,exercise: the nine "
                        "condition CNNs + the recogniser; add form for all 19 shipped models)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    bad = [t for t in args.tasks.split(",") if t not in ("conditions", "form", "exercise")]
    if bad or args.epochs < 1 or args.repeat < 1:
        p.error(f"--tasks: unknown {bad}" if bad else "--epochs and --repeat must be at least 1")

    if args.worker:
        args.threads = int(args.threads)
        res = worker(args)
        args.json.write_text(json.dumps(res))
        return 0

    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, _cores()})
    gen = None
    with tempfile.TemporaryDirectory(prefix="bench-train-data-") as tmp:
        data = args.data
        if not data:
            from formcheck.device.exercises import EXERCISE_IDS, IDLE
            from formcheck.train.synth import SynthConfig, generate_dataset

            exs = EXERCISE_IDS if args.exercises == "all" else tuple(args.exercises.split(","))
            cfg = SynthConfig(exercises=(*exs, IDLE), clips_per_exercise=args.clips, idle_clips=args.clips)
            gen = generate_dataset(Path(tmp) / "synth", cfg, workers=min(_cores(), 8), progress=False)
            data = [str(Path(tmp) / "synth")]
        runs = []
        for t in threads:
            out = Path(tmp) / f"threads-{t}.json"
            cmd = [sys.executable, __file__, "--worker", "--threads", str(t), "--json", str(out),
                   "--epochs", str(args.epochs), "--repeat", str(args.repeat), "--exercises", args.exercises,
                   "--tasks", args.tasks, "--data", *data]
            if subprocess.run(cmd).returncode != 0:
                print(f"bench: the {t}-thread run failed", file=sys.stderr)
                return 1
            runs.append(json.loads(out.read_text()))
    print()
    print(table(runs, args, gen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
