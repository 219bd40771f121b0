"""Pose models: speed, agreement with mediapipe's BlazePose Full, and reps on every real clip.

    python bench/pose.py [--speed-video CLIP.mp4] [--frames 150] [--rounds 3] [--threads 1,2] [--block 30]
                         [--models lite,full,heavy] [--videos DIR]

One table, one row per litert configuration (model × threads, tracking on, one frame at a time),
the default model also with two frames in flight (``pipeline = 2``), plus mediapipe Full (the
baseline; legacy ``mp.solutions.pose``, one thread, tracking):

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

Outputs do not depend on the thread count (checked on the first clip, one frame at a time), so
agreement and reps are computed once per model and pipeline depth, at the largest thread count,
streaming every frame of every clip through all estimators (a pipelined one keeps its frames in
flight: a tracked frame's crop then comes from the pose one frame older, which the agreement
and reps columns include). Needs mediapipe (the ``mediapipe`` extra) for the baseline.
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
WARMUP = 10  # untimed frames at the start of each pass (the blocks that start in them)
BLOCK = 30  # frames an estimator runs before the next one takes over (a pipelined one fills
# and drains its pipeline in each block: with 2 in flight, one frame's time per block)


@dataclass
class Config:
    label: str
    backend: str
    model: str
    threads: int
    pipeline: int = 1  # frames in flight asked for (litert)
    in_flight: int = 1  # frames in flight the estimator keeps (it caps them by its threads)
    fps: list[float] = field(default_factory=list)  # per round
    blocks: list[tuple[int, float]] = field(default_factory=list)  # (frames, seconds)

    def options(self) -> dict:
        if self.backend == "mediapipe":
            return {"model": self.model}
        return {"model": self.model, "threads": self.threads, "pipeline": self.pipeline}

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.backend, self.model, self.pipeline)

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


def speed_round(configs: list[Config], frames: list[np.ndarray], block_frames: int = BLOCK) -> None:
    """One pass over the frames with every configuration interleaved block by block (a
    pipelined estimator fills and drains its pipeline inside each block)."""
    from formcheck.device.pose.landmarks import PoseFeeder, create_estimator, pipeline_depth

    estimators = [create_estimator(c.backend, **c.options()) for c in configs]
    for c, est in zip(configs, estimators, strict=True):
        c.in_flight = pipeline_depth(est)
    spent = [0.0] * len(configs)
    timed_frames = 0
    try:
        for b, start in enumerate(range(0, len(frames), block_frames)):
            block = range(start, min(start + block_frames, len(frames)))
            for k in np.roll(np.arange(len(configs)), -b):
                feeder = PoseFeeder(estimators[k])
                t0 = time.perf_counter()
                for i in block:
                    feeder.feed(frames[i], (i + 1) / 30)
                feeder.drain()
                block_s = time.perf_counter() - t0
                if start >= WARMUP:
                    spent[k] += block_s
                    configs[k].blocks.append((len(block), block_s))
            if start >= WARMUP:
                timed_frames += len(block)
    finally:
        for est in estimators:
            est.close()
    for c, s_ in zip(configs, spent, strict=True):
        c.fps.append(timed_frames / s_)


@dataclass
class Quality:
    errors: list[np.ndarray] = field(default_factory=list)  # per clip: per-frame 17-landmark distances
    person: int = 0
    frames: int = 0
    reps: dict[str, int] = field(default_factory=dict)  # clip -> reps counted


def quality(keys: list[tuple[str, str, int]], threads: int, videos: Path,
            labels: dict) -> tuple[dict[tuple[str, str, int], Quality], bool]:
    """Every frame of every labelled clip through every estimator (backend, model, pipeline);
    the mediapipe Full run is the reference. Also checks that 1 thread gives the same landmarks
    as ``threads``, one frame at a time."""
    from formcheck.device.judging.reps import count_reps
    from formcheck.device.pose.landmarks import PAPER_LANDMARKS, PoseFeeder, create_estimator, stack_poses

    ref = ("mediapipe", "full", 1)
    out = {k: Quality() for k in keys}
    same_at_one_thread = True

    def make(b, m, pipeline, n):
        return create_estimator(b, model=m, threads=n, **({"pipeline": pipeline} if b == "litert" else {}))

    for n, (clip, info) in enumerate(sorted(labels.items())):
        path = videos / clip
        if not path.exists():
            continue
        feeders = {k: PoseFeeder(make(*k, threads)) for k in keys}
        if n == 0:  # thread-count independence, on the first clip and the litert models
            for b, m, _ in {(*k[:2], 1) for k in keys if k[0] == "litert"}:
                feeders[(b, m, 1, "one thread")] = PoseFeeder(make(b, m, 1, 1))
                feeders[(b, m, 1, "threads")] = PoseFeeder(make(b, m, 1, threads))
        poses: dict = {k: [] for k in feeders}
        size = (0, 0)
        try:
            for t, frame in read_frames(path):
                size = (frame.shape[1], frame.shape[0])
                for k, f in feeders.items():
                    poses[k] += f.feed(frame, t)
            for k, f in feeders.items():
                poses[k] += f.drain()
        finally:
            for f in feeders.values():
                f.estimator.close()
        stacked = {k: stack_poses(p) for k, p in poses.items()}
        for k in [k for k in stacked if len(k) == 4 and k[3] == "one thread"]:
            a, b = stacked[k][1], stacked[(*k[:3], "threads")][1]
            same_at_one_thread &= bool(np.allclose(a, b, atol=1e-4, equal_nan=True))
        ref_lm = stacked[ref][1]
        for k in keys:
            t, lm = stacked[k]
            q = out[k]
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
    ap.add_argument("--block", type=int, default=BLOCK, help="frames per interleaved block")
    ap.add_argument("--threads", default="1,2", help="litert thread counts, comma-separated")
    ap.add_argument("--models", default="lite,full,heavy", help="litert landmark models, comma-separated")
    ap.add_argument("--no-quality", action="store_true", help="speed only (no agreement, no reps)")
    args = ap.parse_args(argv)
    if args.frames <= max(WARMUP, args.block) or args.rounds < 1 or args.block < 1:
        ap.error(f"--frames must exceed {WARMUP} and --block; --rounds and --block must be >= 1")
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

    from formcheck.device.pose.litert_backend import DEFAULT_MODEL

    configs = [Config("mediapipe Full", "mediapipe", "full", 1)]
    configs += [Config(f"litert {m}", "litert", m, n) for m in models for n in threads]
    if DEFAULT_MODEL in models and max(threads) > 1:  # the default model, two frames in flight
        configs.append(Config(f"litert {DEFAULT_MODEL}", "litert", DEFAULT_MODEL, max(threads), pipeline=2))
    load = [os.getloadavg()[0]]
    try:
        for r in range(args.rounds):
            speed_round(configs, frames, args.block)
            load.append(os.getloadavg()[0])
            print(f"speed round {r + 1}/{args.rounds} done", file=sys.stderr)
        qual, same = ({}, True) if args.no_quality else quality(
            list(dict.fromkeys(c.key for c in configs)), max(threads), args.videos, labels)
    except PoseError as e:
        sys.exit(f"bench/pose.py: {e}")
    load.append(os.getloadavg()[0])

    base = statistics.median(configs[0].fps)
    base_q = configs[0].quiet_fps()
    ref = qual.get(("mediapipe", "full", 1))
    h, w = frames[0].shape[:2]
    timed = sum(n for n, _ in configs[0].blocks) // args.rounds
    print(f"Pose models: speed on {speed_video.name} ({w}x{h}, {timed} timed frames per "
          f"pass, median of {args.rounds} rounds, tracking on); agreement and reps on "
          f"{len(ref.reps) if ref else 0} real clips ({ref.frames if ref else 0} frames). "
          f"{os.cpu_count()} CPUs, load average {min(load):.1f}–{max(load):.1f} during the run "
          "(other processes share the CPU).")
    print()
    print("| model | threads | frames in flight | frames/s | × mediapipe Full | frames/s (quiet) | × Full (quiet) "
          "| median error vs Full (17 landmarks) | person frames | reps = label | reps = Full's | clips where reps differ from Full's |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for c in configs:
        med, q = statistics.median(c.fps), c.quiet_fps()
        cells = ["–"] * 5
        qq = qual.get(c.key)
        if qq is not None:
            err = float(np.median(np.concatenate(qq.errors))) if qq.errors else float("nan")
            right = sum(qq.reps[k] == labels[k]["reps"] for k in qq.reps)
            same_full = [k for k in qq.reps if qq.reps[k] != ref.reps[k]]
            cells = ["(reference)" if c.backend == "mediapipe" else f"{err:.4f}",
                     f"{qq.person}/{qq.frames}", f"{right}/{len(qq.reps)}",
                     f"{len(qq.reps) - len(same_full)}/{len(qq.reps)}",
                     ", ".join(f"{k.removesuffix('.mp4')} {ref.reps[k]}→{qq.reps[k]}" for k in same_full) or "none"]
        print(f"| {c.label} | {c.threads if c.backend == 'litert' else '1 (fixed)'} | {c.in_flight} | {med:.1f} "
              f"| {med / base:.2f}× | {q:.1f} | {q / base_q:.2f}× | " + " | ".join(cells) + " |")
    print()
    notes = ["× mediapipe Full: against mediapipe Full's frames/s in the same run; quiet: each "
             f"configuration's fastest quarter of {args.block}-frame blocks over all rounds."]
    if qual:
        notes.append(f"Agreement and reps at {max(threads)} threads; one frame at a time, 1 thread gives "
                     + ("the same landmarks (checked on the first clip)." if same
                        else "DIFFERENT landmarks on the first clip (rows hold for the larger count only)."))
    if skipped:
        notes.append("Not measured: " + "; ".join(skipped))
    print(" ".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
