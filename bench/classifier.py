"""Classifier benchmark: size, per-window latency and held-out F1 of one model as Keras, and as
TFLite float32 / float16 / int8 through LiteRT — one table, ratios against Keras.

    python bench/classifier.py --run runs/squat-conditions          # a formcheck-train run
    python bench/classifier.py --data data/synth --exercise squat    # trains a prod model first

Latency is per window at batch 1 (what the station does: one window per rep or per sample),
the median of ``--calls`` calls after warm-up, on ``--threads`` CPU threads. Keras is called
through a compiled ``tf.function`` (its fastest path; ``model.predict`` adds milliseconds of
per-call set-up). TFLite runs in the device's own :class:`formcheck.device.judging.classifier.TFLiteModel`
(quantise → invoke → dequantise), so the int8 row is what a station pays.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _median_ms(fn, x, calls: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def bench(run_dir: Path, calls: int, threads: int) -> list[dict]:
    import tensorflow as tf

    from formcheck.convert.bundling import load_run
    from formcheck.convert.quantize import convert_for_device
    from formcheck.device.judging.classifier import TFLiteModel
    from formcheck.train.models import predict
    from formcheck.train.report import compute_metrics

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    run, model, X, y, rep = load_run(run_dir)
    task, thr, labels = run["task"], float(run.get("threshold", 0.5)), run["labels"]
    x1 = X[:1]
    rows = []
    f = tf.function(lambda v: model(v, training=False), reduce_retracing=True)
    keras_ms = _median_ms(lambda v: f(v).numpy(), x1, calls)
    m = compute_metrics(task, y, predict(model, X), thr, labels)
    rows.append({"format": "Keras (tf.function)", "bytes": (run_dir / "model.keras").stat().st_size,
                 "ms": keras_ms, "acc": m["accuracy"], "f1": m["f1"]})
    for variant in ("float32", "float16", "int8"):
        dm = convert_for_device(model, variant, rep)
        data = dm.model_bytes
        lite = TFLiteModel(data, threads=threads, standardize=dm.standardize)
        ms = _median_ms(lite.predict, x1, calls)
        m = compute_metrics(task, y, lite.predict(X), thr, labels)
        rows.append({"format": f"TFLite {variant} (LiteRT)", "bytes": len(data), "ms": ms,
                     "acc": m["accuracy"], "f1": m["f1"]})
    for r in rows:
        r["size_x"] = r["bytes"] / rows[0]["bytes"]
        r["speed_x"] = rows[0]["ms"] / r["ms"]
    return rows


def table(rows: list[dict], title: str) -> str:
    lines = [title, "",
             "| format | size KB | size vs Keras | latency ms/window | speed-up vs Keras | held-out acc | F1 |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['format']} | {r['bytes'] / 1024:.1f} | {r['size_x']:.2f}x | {r['ms']:.3f} | "
                     f"{r['speed_x']:.1f}x | {r['acc']:.4f} | {r['f1']:.4f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", type=Path, help="a formcheck-train run directory")
    src.add_argument("--data", nargs="+", help="dataset directories: train a prod model first")
    ap.add_argument("--task", default="conditions", choices=("form", "conditions", "exercise"))
    ap.add_argument("--exercise", default="squat")
    ap.add_argument("--model", default="prod", choices=("rnn", "lstm", "cnn", "prod"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--calls", type=int, default=500, help="timed calls per format (median reported)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for Keras and LiteRT")
    args = ap.parse_args(argv)
    run_dir = args.run
    tmp = None
    if run_dir is None:
        from formcheck.train.cli import main as train_main

        tmp = tempfile.TemporaryDirectory(prefix="formcheck-bench-")
        run_dir = Path(tmp.name) / "run"
        argv_t = ["fit", "--data", *args.data, "--task", args.task, "--model", args.model,
                  "--epochs", str(args.epochs), "-q", "-o", str(run_dir)]
        if args.task != "exercise":
            argv_t += ["--exercise", args.exercise, "--window-mode", "rep"]
        if train_main(argv_t) != 0:
            return 1
    try:
        rows = bench(run_dir, args.calls, args.threads)
    finally:
        if tmp is not None:
            tmp.cleanup()
    import platform

    print()
    print(table(rows, f"classifier benchmark — {run_dir.name}, batch 1, {args.threads} thread(s), "
                      f"median of {args.calls} calls, {platform.machine()} {platform.processor() or ''}".strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
