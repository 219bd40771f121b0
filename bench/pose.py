"""Pose models: speed, agreement with mediapipe's BlazePose Full, and reps on every real clip.

    python bench/pose.py [--speed-video CLIP.mp4] [--frames 150] [--rounds 3] [--threads 1,2]
                         [--models lite,full,heavy] [--videos DIR]

One table, one row per litert configuration (model × threads, tracking on) plus mediapipe Full
(the baseline; legacy ``mp.solutions.pose``, one thread, tracking):

- **speed**: every configuration over the same consecutive frames of one clip, interleaved in
  blocks of a few frames (each block goes through every estimator, in an order rotated per
  block) so that load from other processes hits them all alike; median over rounds, and the
  ratio to mediapipe Full in the same run. "quiet" is the speed over each configuration's
  fastest quarter of blocks: an estimate for cores of its own.
- **agreement**: median distance (normalised image coordinates) of the paper's 17 landmarks to
  mediapipe Full's on the same frame, over every frame of every real clip where both found a
  person.
- **reps**: each clip's landmarks through the station's rep counter for the clip's labelled
  exercise (``LABELS.json``); how many clips match the label and how many match mediapipe
  Full's count, and the clips that differ from Full.

Outputs do not depend on the thread count (checked on the first clip), so agreement and reps
are computed once per model, at the largest thread count, streaming every frame of every clip
through all estimators. Needs mediapipe (the ``mediapipe`` extra) for the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORMCHECK_SHARED_DATA", REPO.parent / "shared" / "data"))
WARMUP = 10  # untimed frames at the start of each pass
BLOCK = 10  # frames an estimator runs before the next one takes over


@dataclass
class Config:
    label: str
    backend: str
    model: str
    threads: int
    fps: list[float] = field(default_factory=list)  # per round
    blocks: list[tuple[int, float]] = field(default_factory=list)  # (frames, seconds)

    def options(self) -> dict:
        if self.backend == "mediapipe":
            return {"model": self.model}
        return {"model": self.model, "threads": self.threads}

    def quiet_fps(self) -> float:
        per_frame = sorted(self.blocks, key=lambda b: b[1] / b[0])
        best = per_frame[:max(1, len(per_frame) // 4)]
        return sum(n for n, _ in best) / sum(s for _, s in best)


def read_frames(video: Path, n: int | None = None):
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    i = 0
    try:
        while n is None or i < n:
            ok, bgr = cap.read()
            if not ok:
                break
            yield i / fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()


def speed_round(configs: list[Config], frames: list[np.ndarray]) -> None:
    """One pass over the frames with every configuration interleaved block by block."""
    from formcheck.device.pose.landmarks import create_estimator

    estimators = [create_estimator(c.backend, **c.options()) for c in configs]
    spent = [0.0] * len(configs)
    try:
        for b, start in enumerate(range(0, len(frames), BLOCK)):
            for k in np.roll(np.arange(len(configs)), -b):
                timed, block_s = 0, 0.0
                for i in range(start, min(start + BLOCK, len(frames))):
                    t0 = time.perf_counter()
                    estimators[k].estimate(frames[i], (i + 1) / 30)
                    if i >= WARMUP:
                        timed += 1
                        block_s += time.perf_counter() - t0
                if timed:
                    spent[k] += block_s
                    configs[k].blocks.append((timed, block_s))
    finally:
        for est in estimators:
            est.close()
    for c, s_ in zip(configs, spent, strict=True):
        c.fps.append((len(frames) - WARMUP) / s_)


@dataclass
class Quality:
    errors: list[np.ndarray] = field(default_factory=list)  # per clip: per-frame 17-landmark distances
    person: int = 0
    frames: int = 0
    reps: dict[str, int] = field(default_factory=dict)  # clip -> reps counted


def quality(models: list[tuple[str, str]], threads: int, videos: Path,
            labels: dict) -> tuple[dict[tuple[str, str], Quality], bool]:
    """Every frame of every labelled clip through every estimator (backend, model); the
    mediapipe Full run is the reference. Also checks that 1 thread gives the same landmarks."""
    from formcheck.device.judging.reps import count_reps
    from formcheck.device.pose.landmarks import PAPER_LANDMARKS, create_estimator, stack_poses

    ref = ("mediapipe", "full")
    out = {m: Quality() for m in models}
    same_at_one_thread = True
    for n, (clip, info) in enumerate(sorted(labels.items())):
        path = videos / clip
        if not path.exists():
            continue
        ests = {m: create_estimator(m[0], model=m[1], threads=threads) for m in models}
        if n == 0:  # thread-count independence, on the first clip and the litert models
            ests.update({(b, m, 1): create_estimator(b, model=m, threads=1) for b, m in models if b == "litert"})
        poses: dict = {k: [] for k in ests}
        size = (0, 0)
        try:
            for t, frame in read_frames(path):
                size = (frame.shape[1], frame.shape[0])
                for k, est in ests.items():
                    poses[k].append(est.estimate(frame, t))
        finally:
            for est in ests.values():
                est.close()
        stacked = {k: stack_poses(p) for k, p in poses.items()}
        for k in [k for k in stacked if len(k) == 3]:
            a, b = stacked[k][1], stacked[k[:2]][1]
            same_at_one_thread &= bool(np.allclose(a, b, atol=1e-4, equal_nan=True))
        ref_lm = stacked[ref][1]
        for m in models:
            t, lm = stacked[m]
            q = out[m]
            q.frames += len(t)
            q.person += int(np.isfinite(lm[:, 0, 0]).sum())
            both = np.isfinite(lm[:, 0, 0]) & np.isfinite(ref_lm[:, 0, 0])
            d = np.linalg.norm(lm[both][:, PAPER_LANDMARKS, :2] - ref_lm[both][:, PAPER_LANDMARKS, :2], axis=-1)
            q.errors.append(d.ravel())
            q.reps[clip] = len(count_reps(t, lm, info["exercise"], size))
        print(f"quality: {clip} done ({n + 1}/{len(labels)})", file=sys.stderr)
    return out, same_at_one_thread


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=SHARED / "videos", help="real clips and LABELS.json")
    ap.add_argument("--speed-video", type=Path, help="clip for the speed columns (default: side_lunge_front.mp4)")
    ap.add_argument("--frames", type=int, default=150, help="consecutive frames per speed pass")
    ap.add_argument("--rounds", type=int, default=3, help="speed passes (median)")
    ap.add_argument("--threads", default="1,2", help="litert thread counts, comma-separated")
    ap.add_argument("--models", default="lite,full,heavy", help="litert landmark models, comma-separated")
    ap.add_argument("--no-quality", action="store_true", help="speed only (no agreement, no reps)")
    args = ap.parse_args(argv)
    if args.frames <= WARMUP or args.rounds < 1:
        ap.error(f"--frames must exceed {WARMUP} and --rounds be >= 1")
    try:
        threads = [int(x) for x in args.threads.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--threads: comma-separated integers, got {args.threads!r}")
    from formcheck.device.pose import bundled
    from formcheck.device.pose.landmarks import PoseError

    models, skipped = [], []
    for m in [x.strip() for x in args.models.split(",") if x.strip()]:
        try:
            bundled.locate(bundled.landmark_file(m))
            models.append(m)
        except PoseError as e:
            skipped.append(f"{m} ({e})")
    labels_file = args.videos / "LABELS.json"
    if not labels_file.exists():
        sys.exit(f"{labels_file} is absent: the real clips live beside the repo in ../shared/data "
                 "(or set FORMCHECK_SHARED_DATA)")
    labels = json.loads(labels_file.read_text())["clips"]
    speed_video = args.speed_video or args.videos / "side_lunge_front.mp4"
    frames = [f for _, f in read_frames(speed_video, args.frames)]
    if len(frames) <= WARMUP:
        sys.exit(f"{speed_video}: fewer than {WARMUP + 1} readable frames")

    configs = [Config("mediapipe Full", "mediapipe", "full", 1)]
    configs += [Config(f"litert {m}", "litert", m, n) for m in models for n in threads]
    load = [os.getloadavg()[0]]
    try:
        for r in range(args.rounds):
            speed_round(configs, frames)
            load.append(os.getloadavg()[0])
            print(f"speed round {r + 1}/{args.rounds} done", file=sys.stderr)
        qual, same = ({}, True) if args.no_quality else quality(
            [("mediapipe", "full")] + [("litert", m) for m in models], max(threads), args.videos, labels)
    except PoseError as e:
        sys.exit(f"bench/pose.py: {e}")
    load.append(os.getloadavg()[0])

    base = statistics.median(configs[0].fps)
    base_q = configs[0].quiet_fps()
    ref = qual.get(("mediapipe", "full"))
    h, w = frames[0].shape[:2]
    print(f"Pose models: speed on {speed_video.name} ({w}x{h}, {len(frames) - WARMUP} timed frames per "
          f"pass, median of {args.rounds} rounds, tracking on); agreement and reps on "
          f"{len(ref.reps) if ref else 0} real clips ({ref.frames if ref else 0} frames). "
          f"{os.cpu_count()} CPUs, load average {min(load):.1f}–{max(load):.1f} during the run "
          "(other processes share the CPU).")
    print()
    print("| model | threads | frames/s | × mediapipe Full | frames/s (quiet) | × Full (quiet) "
          "| median error vs Full (17 landmarks) | person frames | reps = label | reps = Full's | clips where reps differ from Full's |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for c in configs:
        med, q = statistics.median(c.fps), c.quiet_fps()
        cells = ["–"] * 5
        qq = qual.get((c.backend, c.model))
        if qq is not None:
            err = float(np.median(np.concatenate(qq.errors))) if qq.errors else float("nan")
            right = sum(qq.reps[k] == labels[k]["reps"] for k in qq.reps)
            same_full = [k for k in qq.reps if qq.reps[k] != ref.reps[k]]
            cells = ["(reference)" if c.backend == "mediapipe" else f"{err:.4f}",
                     f"{qq.person}/{qq.frames}", f"{right}/{len(qq.reps)}",
                     f"{len(qq.reps) - len(same_full)}/{len(qq.reps)}",
                     ", ".join(f"{k.removesuffix('.mp4')} {ref.reps[k]}→{qq.reps[k]}" for k in same_full) or "none"]
        print(f"| {c.label} | {c.threads if c.backend == 'litert' else '1 (fixed)'} | {med:.1f} "
              f"| {med / base:.2f}× | {q:.1f} | {q / base_q:.2f}× | " + " | ".join(cells) + " |")
    print()
    notes = ["× mediapipe Full: against mediapipe Full's frames/s in the same run; quiet: each "
             "configuration's fastest quarter of 10-frame blocks over all rounds."]
    if qual:
        notes.append(f"Agreement and reps at {max(threads)} threads; 1 thread gives "
                     + ("the same landmarks (checked on the first clip)." if same
                        else "DIFFERENT landmarks on the first clip (rows hold for the larger count only)."))
    if skipped:
        notes.append("Not measured: " + "; ".join(skipped))
    print(" ".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
