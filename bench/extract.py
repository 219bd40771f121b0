"""Extraction speed: frames per second of ``formcheck-extract`` on real videos, 1 worker vs all.

    python bench/extract.py [--videos ../shared/data/videos] [--repeat 3] [--backend mediapipe]

Each run is the real command, ``formcheck-extract VIDEOS -o <fresh temp dir> --workers N``,
in its own process (decode + BlazePose in video mode + write, start-up included), timed end
to end. Prints one markdown table: median of ``--repeat`` runs per worker count, frames/s,
the ratio to the first worker count, and CPU time per frame (the command and its workers),
which stays meaningful when other work shares the machine. Work is split per input file, so
the speed-up is bounded by the longest clip's share of the frames; the footnote gives that
bound.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# formcheck-extract, run with this interpreter (as the console script does)
CLI = [sys.executable, "-c", "import sys; from formcheck.train.extract import main; sys.exit(main())"]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=Path, default=REPO.parent / "shared" / "data" / "videos",
                   help="folder of videos (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3, help="runs per worker count (median; default 3)")
    p.add_argument("--backend", default="mediapipe", help="pose backend (default: %(default)s)")
    p.add_argument("--workers", type=int, nargs="*", help="worker counts (default: 1 and all cores)")
    args = p.parse_args(argv)
    if not args.videos.is_dir() or not any(args.videos.glob("*.mp4")):
        print(f"no videos at {args.videos}", file=sys.stderr)
        return 2
    counts = args.workers or sorted({1, _cores()})
    rows, frames, longest, loads = [], 0, 0, []
    for workers in counts:
        times, cpus = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bench-extract-") as out:
                cmd = [*CLI, str(args.videos), "-o", out,
                       "--kind", "videos", "--workers", str(workers), "--backend", args.backend, "-q"]
                c0, t0 = _children_cpu(), time.perf_counter()
                res = subprocess.run(cmd, capture_output=True, text=True)
                times.append(time.perf_counter() - t0)
                cpus.append(_children_cpu() - c0)
                loads.append(os.getloadavg()[0])
                if res.returncode != 0:
                    print(res.stdout, res.stderr[-2000:], sep="\n", file=sys.stderr)
                    return 1
                files = json.loads((Path(out) / "manifest.json").read_text())["files"]
                frames = sum(f["frames"] for f in files)
                longest = max(f["frames"] for f in files)
            print(f"  {workers} worker(s): {times[-1]:.2f} s", file=sys.stderr)
        rows.append((workers, statistics.median(times), min(times), max(times), statistics.median(cpus)))
    base = rows[0][1]
    print(f"\nformcheck-extract on {args.videos.name}/ ({frames} frames), backend {args.backend}, "
          f"{_cores()} cores, median of {args.repeat} runs\n")
    print(f"| workers | median s | min–max s | frames/s | vs {rows[0][0]} worker(s) | CPU ms/frame |")
    print("|---:|---:|---:|---:|---:|---:|")
    for workers, med, lo, hi, cpu in rows:
        print(f"| {workers} | {med:.2f} | {lo:.2f}–{hi:.2f} | {frames / med:.1f} | {base / med:.2f}x "
              f"| {1000 * cpu / frames:.1f} |")
    print(f"\nWall time includes start-up (imports, workers, model). Load average during the runs: "
          f"{min(loads):.1f}–{max(loads):.1f} on {_cores()} cores.")
    print(f"Work is split per file: the longest clip has {longest} of the {frames} frames, so no "
          f"worker count can beat {frames / longest:.2f}x on this folder.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
