"""Reps and exercise recognition on the real dev clips, through the station's own pipeline.
Prints one markdown table.

    python bench/clips.py [--cache DIR] [--clips a,b] [--backend mediapipe|litert] [--json PATH]

Every clip in ``videos/LABELS.json`` of the shared data (``$FORMCHECK_SHARED_DATA``, else
``../shared/data`` beside the repository) is decoded by the station's frame source and run
through the pose backend once; the poses then go, as the station sends them (``Judge.update``
with each validated ``Pose``, ``Judge.finish`` at the end of the input), through the judge the
station builds (``build_judge`` with the shipped models) twice: with the clip's exercise given,
and in auto mode. ``--cache DIR`` keeps each clip's landmarks as ``DIR/<stem>.npz`` (``t``, ``lm``,
``size``) and reuses them, so that a second run skips the pose estimation.

Columns: reps counted / labelled with the exercise given; in auto mode, the reps attributed to
the labelled exercise (reps credited to another exercise listed beside); the exercise(s)
recognised in order; the clip time of the first recognition ("end": decided only when the
input ended). ``ok`` when both counts are exact and only the labelled exercise was recognised.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.modules.setdefault("tensorflow", None)  # as the station: never TensorFlow

import numpy as np  # noqa: E402

from formcheck.device.app import config as C  # noqa: E402
from formcheck.device.app.build import build_estimator, build_judge, load_models  # noqa: E402
from formcheck.device.events import ExerciseEvent, RepEvent  # noqa: E402
from formcheck.device.pose.landmarks import NUM_LANDMARKS, Pose  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORMCHECK_SHARED_DATA", REPO.parent / "shared" / "data"))


@dataclass
class Clip:
    name: str
    exercise: str
    reps: int
    view: str
    t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lm: np.ndarray = field(default_factory=lambda: np.zeros((0, NUM_LANDMARKS, 4), np.float32))
    size: tuple[int, int] = (0, 0)
    pose_s: float = 0.0  # wall time of the pose pass (0: from the cache)


def estimate(video: Path, backend: str, model: str, pipeline: int = 1) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The station's frame source and pose backend over a whole video file (``pipeline``
    frames in flight, as ``station.pose_pipeline``):
    ``(t (T,), landmarks (T, 33, 4) NaN where nobody was found, image size)``."""
    from formcheck.device.capture.sources import open_source
    from formcheck.device.pose.landmarks import PoseFeeder

    est = build_estimator(C.apply_overrides(C.Config(), {"station.pose_backend": backend,
                                                         "station.pose_model": model,
                                                         "station.pose_pipeline": pipeline}))
    feeder = PoseFeeder(est)
    src = open_source(str(video), realtime=False).start()
    ts, poses, size = [], [], (0, 0)
    try:
        while True:
            frame = src.read(timeout=1.0)
            if frame is None:
                if src.ended:
                    break
                continue
            h, w = frame.image.shape[:2]
            size = (w, h)
            ts.append(frame.t)
            poses += feeder.feed(frame.image, frame.t)
        poses += feeder.drain()
    finally:
        src.close()
        est.close()
    lms = [p.landmarks if p.landmarks is not None else np.full((NUM_LANDMARKS, 4), np.nan, np.float32)
           for p in poses]
    return np.asarray(ts, np.float64), np.stack(lms).astype(np.float32), size


def load_clip(clip: Clip, videos: Path, cache: Path | None, backend: str, model: str, pipeline: int = 1) -> None:
    path = cache / f"{Path(clip.name).stem}.npz" if cache else None
    if path is not None and path.is_file():
        d = np.load(path)
        clip.t, clip.lm, clip.size = d["t"], d["lm"].astype(np.float32), tuple(int(v) for v in d["size"])
        return
    t0 = time.monotonic()
    clip.t, clip.lm, clip.size = estimate(videos / clip.name, backend, model, pipeline)
    clip.pose_s = time.monotonic() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, t=clip.t, lm=clip.lm, size=np.array(clip.size))


def run_judge(judge, clip: Clip) -> list:
    """The clip's poses through a judge, as the station feeds it."""
    events = []
    for t, lm in zip(clip.t, clip.lm, strict=True):
        person = lm if np.isfinite(lm[:, :2]).any() else None
        pose = Pose(t=float(t), landmarks=person, image_size=clip.size, score=0.9 if person is not None else 0.0)
        events += judge.update(pose)
    events += judge.finish()
    return events


@dataclass
class Result:
    given: int
    auto: int
    wrong: dict[str, int]
    recognised: list[str]
    first_t: float | None
    at_end: bool

    def ok(self, clip: Clip) -> bool:
        return (self.given == clip.reps and self.auto == clip.reps and not self.wrong
                and set(self.recognised) == {clip.exercise})


def evaluate(clip: Clip, bundles: list) -> Result:
    cfg = C.Config()
    given = [e for e in run_judge(build_judge(cfg, bundles, clip.exercise), clip) if isinstance(e, RepEvent)]
    auto = run_judge(build_judge(cfg, bundles, "auto"), clip)
    reps = [e for e in auto if isinstance(e, RepEvent)]
    wrong: dict[str, int] = {}
    for e in reps:
        if e.exercise != clip.exercise:
            wrong[e.exercise] = wrong.get(e.exercise, 0) + 1
    chosen = [e for e in auto if isinstance(e, ExerciseEvent) and e.exercise != "auto"]
    first_t = float(chosen[0].t - clip.t[0]) if chosen else None
    at_end = bool(chosen) and chosen[0].t >= clip.t[-1] - 1e-6
    return Result(given=sum(e.exercise == clip.exercise for e in given),
                  auto=sum(e.exercise == clip.exercise for e in reps), wrong=wrong,
                  recognised=[e.exercise for e in chosen], first_t=first_t, at_end=at_end)


def markdown(clips: list[Clip], results: list[Result]) -> str:
    head = ["clip", "view", "reps (given) / labelled", "reps (auto)", "recognised (auto)",
            "time to recognise", ""]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for c, r in zip(clips, results, strict=True):
        wrong = "".join(f" + {n} as {k}" for k, n in r.wrong.items())
        first = "—" if r.first_t is None else f"{r.first_t:.1f} s" + (" (end)" if r.at_end else "")
        lines.append("| " + " | ".join([
            c.name.removesuffix(".mp4"), c.view.split(" ")[0], f"{r.given}/{c.reps}", f"{r.auto}/{c.reps}{wrong}",
            " → ".join(r.recognised) or "none", first, "ok" if r.ok(c) else "**miss**"]) + " |")
    return "\n".join(lines)


def labelled_clips(p: argparse.ArgumentParser, videos: Path, wanted_arg: str) -> list[Clip]:
    """The clips of ``videos/LABELS.json`` (all, or the comma-separated ``wanted_arg``), sorted
    by name, without landmarks; a missing file or an unknown name is ``p.error``."""
    labels_path = videos / "LABELS.json"
    if not labels_path.is_file():
        p.error(f"{labels_path} not found (set FORMCHECK_SHARED_DATA or --videos)")
    labels = json.loads(labels_path.read_text())["clips"]
    wanted = [c.strip() if c.strip().endswith(".mp4") else c.strip() + ".mp4" for c in wanted_arg.split(",") if c.strip()]
    for w in wanted:
        if w not in labels:
            p.error(f"unknown clip {w!r}")
    return [Clip(name, v["exercise"], int(v["reps"]), v.get("view", ""))
            for name, v in sorted(labels.items()) if not wanted or name in wanted]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=Path, default=SHARED / "videos", help="folder with LABELS.json and the clips")
    p.add_argument("--cache", type=Path, metavar="DIR", help="reuse/keep landmarks as DIR/<stem>.npz")
    p.add_argument("--clips", default="", help="comma-separated clip names (default: all)")
    p.add_argument("--backend", choices=("mediapipe", "litert"), default=C.Config().station.pose_backend)
    p.add_argument("--model", choices=("lite", "full", "heavy"), default=C.Config().station.pose_model,
                   help="pose landmark model (default: the station's, %(default)s; a cache holds one model's)")
    p.add_argument("--pipeline", type=int, choices=(1, 2), default=C.Config().station.pose_pipeline,
                   help="litert frames in flight (station.pose_pipeline; a cache holds one setting's)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    a = p.parse_args(argv)
    clips = labelled_clips(p, a.videos, a.clips)
    bundles = load_models(C.Config())
    results = []
    t0 = time.monotonic()
    for c in clips:
        load_clip(c, a.videos, a.cache, a.backend, a.model, a.pipeline)
        results.append(evaluate(c, bundles))
        r = results[-1]
        print(f"{c.name}: {r.given}/{c.reps} given, {r.auto}/{c.reps} auto, {' → '.join(r.recognised) or 'none'}"
              + (f" (pose {c.pose_s:.0f} s)" if c.pose_s else ""), file=sys.stderr, flush=True)
    n = len(clips)
    exact = sum(r.given == c.reps for c, r in zip(clips, results, strict=True))
    within = sum(abs(r.given - c.reps) <= 1 for c, r in zip(clips, results, strict=True))
    exact_auto = sum(r.auto == c.reps and not r.wrong for c, r in zip(clips, results, strict=True))
    right = sum(set(r.recognised) == {c.exercise} for c, r in zip(clips, results, strict=True))
    print(f"Real clips: {n}, backend {a.backend}{', landmarks cached' if a.cache else ''}, "
          f"{time.monotonic() - t0:.0f} s. Reps with the exercise given: exact {exact}/{n}, within one "
          f"{within}/{n}; auto mode: exact {exact_auto}/{n}; exercise recognised {right}/{n}.\n")
    print(markdown(clips, results))
    if a.json:
        a.json.write_text(json.dumps([{"clip": c.name, "exercise": c.exercise, "labelled": c.reps,
                                       "given": r.given, "auto": r.auto, "wrong": r.wrong,
                                       "recognised": r.recognised, "first_t": r.first_t}
                                      for c, r in zip(clips, results, strict=True)], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
