"""Ray engine overhead: frames per second, local process pool (1 and all workers) vs Ray local.

    python bench/extract_ray.py [--videos ../shared/data/videos] [--repeat 3] [--cpus N]

Every run extracts all videos of the folder into a fresh temporary dataset (decode + BlazePose
video mode + write), timed end to end: for the local engine including starting its worker
processes, for Ray including starting its actors (each loads the pose model once); the
1-worker run is in this process with its pose model loaded before the timing (an untimed
warm-up run), so it is the steady per-worker rate the N-node expectation uses. Two Ray rows:
"warm" joins a Ray instance that is already running (a cluster's steady state), "cold" also
starts and stops the local instance inside the timing (``formcheck-extract --engine ray`` on
one machine). Prints one markdown table, median of ``--repeat`` runs (round-robin over the
configurations), with the ratio to the 1-worker local run and each worker's own rate (frames
over the seconds spent inside ``process_item``: the work without start-up and scheduling), then the expected throughput on N nodes from the measured per-worker rate
(an expectation, not a measurement: see docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from formcheck.train.extract import ExtractOptions, discover, run

REPO = Path(__file__).resolve().parents[1]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=Path, default=REPO.parent / "shared" / "data" / "videos",
                   help="folder of videos (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="runs per configuration (median; default 3)")
    p.add_argument("--cpus", type=int, default=_cores(), help="'all workers' / Ray CPUs (default: all cores)")
    p.add_argument("--max-frames", type=int, help="only the first N frames of each video (quick looks)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    try:
        import ray

        from formcheck.train.extract_ray import LOCAL_OBJECT_STORE_BYTES, run_ray
    except ImportError:
        print("Ray is not installed: pip install 'formcheck[ray]'", file=sys.stderr)
        return 2
    if not args.videos.is_dir():
        print(f"no videos at {args.videos}", file=sys.stderr)
        return 2
    items = discover([args.videos], "videos")
    if not items:
        print(f"no videos in {args.videos}", file=sys.stderr)
        return 2
    n = args.cpus
    one = ExtractOptions(threads=0, max_frames=args.max_frames)
    many = ExtractOptions(threads=1, max_frames=args.max_frames)

    def local(workers: int):
        return lambda out: run(items, out, one if workers == 1 else many, workers=workers)

    def warm_up():  # mediapipe import + model load, once, outside the timing
        with tempfile.TemporaryDirectory(prefix="bench-extract-ray-") as out:
            run(items[:1], out, ExtractOptions(threads=0, max_frames=1), workers=1)

    def ray_warm(out):
        return run_ray(items, many, out, progress=False, manifest=False)

    def ray_cold(out):
        return run_ray(items, many, out, num_cpus=n, progress=False, manifest=False)

    def start_ray():
        ray.init(num_cpus=n, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 object_store_memory=LOCAL_OBJECT_STORE_BYTES)

    def no_ray():
        if ray.is_initialized():
            ray.shutdown()

    # (engine, workers shown, before (untimed), timed run)
    configs = [("local", "1 worker (in process)", warm_up, local(1)),
               ("local", f"{n} workers", None, local(n)),
               ("ray local", f"{n} CPUs, warm (instance already running)",
                lambda: ray.is_initialized() or start_ray(), ray_warm),
               ("ray local", f"{n} CPUs, cold (starts + stops the instance)", no_ray, ray_cold)]
    times: dict[int, list[float]] = {i: [] for i in range(len(configs))}
    busy: dict[int, list[float]] = {i: [] for i in range(len(configs))}  # summed in-worker seconds
    frames = longest = 0
    try:
        # Round-robin, not one configuration after the other: a machine shared with other work
        # slows every configuration alike instead of whichever ran during the busy minute.
        for rnd in range(args.repeat):
            for i, (engine, what, before, fn) in enumerate(configs):
                if before:
                    before()
                with tempfile.TemporaryDirectory(prefix="bench-extract-ray-") as out:
                    t0 = time.perf_counter()
                    summary = fn(out)
                    times[i].append(time.perf_counter() - t0)
                busy[i].append(sum(r.seconds for r in summary.results))
                if summary.failed:
                    print(f"failed: {[r.reason for r in summary.failed]}", file=sys.stderr)
                    return 1
                frames = sum(r.frames for r in summary.results)
                longest = max(r.frames for r in summary.results)
                print(f"  round {rnd + 1}: {engine}, {what}: {times[i][-1]:.2f} s", file=sys.stderr)
    finally:
        no_ray()
    rows = [(engine, what, statistics.median(times[i]), min(times[i]), max(times[i]),
             statistics.median(busy[i])) for i, (engine, what, _, _) in enumerate(configs)]

    base = rows[0][2]
    print(f"\nExtraction of {len(items)} videos ({frames} frames, mediapipe BlazePose full), "
          f"{_cores()} cores, median of {args.repeat} runs\n")
    print("| engine | workers | median s | min–max s | frames/s | vs local 1 worker | frames/s per worker, "
          "inside process_item |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for engine, what, med, lo, hi, b in rows:
        print(f"| {engine} | {what} | {med:.2f} | {lo:.2f}–{hi:.2f} | {frames / med:.1f} | {base / med:.2f}x "
              f"| {frames / b:.1f} |")
    warm, cold, pool = rows[2][2], rows[3][2], rows[1][2]
    print(f"\nRay overhead vs the local pool with the same {n} workers: warm "
          f"{100 * (warm / pool - 1):+.0f}%, cold {100 * (cold / pool - 1):+.0f}% "
          f"(cold - warm = {cold - warm:.1f} s to start and stop Ray).")
    print(f"Work is split per file: the longest clip has {longest} of the {frames} frames, so no "
          f"worker count can beat {frames / longest:.2f}x on this set.")
    per_worker = frames / base
    print(f"\nExpected (not measured) on N nodes of C cores with many inputs: about "
          f"N x C x {per_worker:.0f} frames/s (this machine's 1-worker rate), e.g. "
          + ", ".join(f"{k} x 8 cores ≈ {k * 8 * per_worker:,.0f} frames/s" for k in (1, 4, 16))
          + "; the shared filesystem's read bandwidth and the slowest inputs set the ceiling.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
