"""Pose backend speed: mediapipe vs litert on the same frames, in one run.

    python bench/pose.py [--video CLIP.mp4] [--frames 150] [--rounds 5] [--threads 1,2,4]

Every configuration runs over the same consecutive frames of one clip: mediapipe in video mode
(tracking) and in static mode (detector on every frame), and the litert backend at each thread
count with tracking and with ``track=False`` (detector on every frame). All configurations are
interleaved in blocks of a few frames (each block goes through every estimator, in an order
rotated per block), so that load from other processes on a shared machine hits them all
alike; blocks rather than single frames, so that one interpreter's thread pool winding down
does not eat into the next one's time. A round is one pass over the frames; the table shows
each configuration's median over rounds and its ratio to mediapipe in the same mode. The first
frames of a round are not timed (interpreter warm-up). Prints one markdown table.

On a machine shared with other work, contention hits a multi-threaded interpreter hardest (it
needs several cores at once). The "quiet" columns therefore also give the speed over each
configuration's fastest quarter of blocks (over all rounds): an estimate of what it does on
cores of its own. Read the median columns as "on this machine, now", the quiet ones as "on an
idle machine".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = (Path(os.environ.get("FORMCHECK_SHARED_DATA", REPO.parent / "shared" / "data"))
                 / "videos" / "side_lunge_front.mp4")
WARMUP = 10  # untimed frames at the start of each pass
BLOCK = 10  # frames an estimator runs before the next one takes over


@dataclass
class Config:
    backend: str
    threads: str
    mode: str  # "tracking" | "detector every frame"
    options: dict
    fps: list[float] = field(default_factory=list)  # per round
    blocks: list[tuple[int, float]] = field(default_factory=list)  # (frames, seconds), all rounds
    found: int = 0

    def quiet_fps(self) -> float:
        per_frame = sorted(self.blocks, key=lambda b: b[1] / b[0])
        best = per_frame[:max(1, len(per_frame) // 4)]
        return sum(n for n, _ in best) / sum(s for _, s in best)


def load_frames(video: Path | None, n: int) -> tuple[list[np.ndarray], str]:
    import cv2

    if video is not None and video.exists():
        cap = cv2.VideoCapture(str(video))
        frames = []
        while len(frames) < n:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        cap.release()
        if len(frames) > WARMUP:
            return frames, f"{video.name}, first {len(frames)} frames"
        sys.exit(f"{video}: fewer than {WARMUP + 1} readable frames")
    if video is not None and video != DEFAULT_VIDEO:
        sys.exit(f"{video}: no such file")
    from skimage.data import astronaut

    img = astronaut()
    return [img] * n, f"skimage astronaut repeated {n}× ({DEFAULT_VIDEO} absent)"


def one_round(configs: list[Config], frames: list[np.ndarray]) -> None:
    """One pass over the frames with every configuration interleaved block by block."""
    from formcheck.device.pose.landmarks import create_estimator

    estimators = [create_estimator(c.backend, **c.options) for c in configs]
    spent = [0.0] * len(configs)
    found = [0] * len(configs)
    try:
        for b, start in enumerate(range(0, len(frames), BLOCK)):
            for k in np.roll(np.arange(len(configs)), -b):
                timed, block_s = 0, 0.0
                for i in range(start, min(start + BLOCK, len(frames))):
                    t0 = time.perf_counter()
                    pose = estimators[k].estimate(frames[i], (i + 1) / 30)
                    if i >= WARMUP:
                        timed += 1
                        block_s += time.perf_counter() - t0
                    found[k] += pose.person
                if timed:
                    spent[k] += block_s
                    configs[k].blocks.append((timed, block_s))
    finally:
        for est in estimators:
            est.close()
    for c, s_, n in zip(configs, spent, found, strict=True):
        c.fps.append((len(frames) - WARMUP) / s_)
        c.found = n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="clip to read frames from")
    ap.add_argument("--frames", type=int, default=150, help="consecutive frames per pass")
    ap.add_argument("--rounds", type=int, default=5, help="passes per configuration (median)")
    ap.add_argument("--threads", default="1,2,4", help="litert thread counts, comma-separated")
    args = ap.parse_args(argv)
    if args.frames <= WARMUP or args.rounds < 1:
        ap.error(f"--frames must exceed {WARMUP} and --rounds be >= 1")
    try:
        threads = [int(x) for x in args.threads.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--threads: comma-separated integers, got {args.threads!r}")

    frames, source = load_frames(args.video, args.frames)
    configs = [Config("mediapipe", "1 (fixed)", "tracking", {}),
               Config("mediapipe", "1 (fixed)", "detector every frame", {"static": True})]
    for n in threads:
        configs += [Config("litert", str(n), "tracking", {"threads": n}),
                    Config("litert", str(n), "detector every frame", {"threads": n, "track": False})]

    load_before = os.getloadavg()
    for r in range(args.rounds):
        one_round(configs, frames)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    load_after = os.getloadavg()

    base = {c.mode: statistics.median(c.fps) for c in configs if c.backend == "mediapipe"}
    quiet = {c.mode: c.quiet_fps() for c in configs if c.backend == "mediapipe"}
    h, w = frames[0].shape[:2]
    print(f"Pose backends on {source} ({w}x{h}); {len(frames) - WARMUP} timed frames per pass, "
          f"median of {args.rounds} rounds; {os.cpu_count()} CPUs, load average "
          f"{load_before[0]:.1f} before / {load_after[0]:.1f} after (other processes share the CPU).")
    print()
    print("| backend | threads | mode | frames/s (median) | range | ms/frame | × mediapipe "
          "| frames/s (quiet) | × mediapipe (quiet) | person found |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in configs:
        med, q = statistics.median(c.fps), c.quiet_fps()
        print(f"| {c.backend} | {c.threads} | {c.mode} | {med:.1f} | {min(c.fps):.1f}–{max(c.fps):.1f} "
              f"| {1000 / med:.1f} | {med / base[c.mode]:.2f}× | {q:.1f} | {q / quiet[c.mode]:.2f}× "
              f"| {c.found}/{len(frames)} |")
    print()
    print("× mediapipe: against mediapipe in the same mode (tracking / detector every frame). "
          "quiet: fastest quarter of each configuration's 10-frame blocks over all rounds.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
