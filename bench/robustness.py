"""Robustness of rep counting and exercise recognition to plausible differences between the
real dev clips and unseen ones. Prints one markdown table.

    python bench/robustness.py [--clips a,b] [--transforms identity,mirror,...] [--jobs 2]
                               [--backend mediapipe|litert] [--cache DIR] [--json PATH]

Every clip of ``videos/LABELS.json`` in the shared data (``$FORMCHECK_SHARED_DATA``, else
``../shared/data`` beside the repository) is rewritten with OpenCV (to a temporary folder, never
into the repository) under each transform:

- ``identity``: decoded and re-encoded unchanged (the control: same codec path as the others)
- ``mirror``: flipped left-right
- ``half_fps``: every other frame dropped, written at fps/2 (same duration, half the samples)
- ``zoom60_black`` / ``zoom60_edge``: the frame scaled to 60% and centred on a canvas of the
  original size, padded black / with replicated edge pixels (the person further away)
- ``rot+7`` / ``rot-7``: rotated 7 degrees about the centre (camera roll), edges replicated
- ``dim`` / ``bright``: contrast and brightness changed (0.6x - 20, 1.4x + 30)
- ``speed1.5``: every third frame dropped, written at the original fps (the person 1.5x faster)
- ``feet_cut`` / ``head_cut``: the frame cropped so that the person's feet (the bottom edge a
  third of the way up the shin, where the ankles rest: the median over the clip) or head (the
  top edge half-way between the nose and the shoulders where the head is highest: the 10th
  percentile, so that the shoulders stay in view when a deadlift stands up) are outside it,
  as a camera framed too tight. The edge is placed from the clip's own poses (the default pose
  backend on every third frame). A clip whose feet or head are out of frame already is left
  as it is.

Each transformed video goes once through the station's frame source and pose backend
(``--jobs`` videos at a time, one core each), and its poses through the judge the station
builds, as ``bench/clips.py`` does: with the clip's exercise given and in auto mode.
``--cache DIR`` keeps the landmarks of each transformed video (``DIR/<stem>.<transform>.npz``),
so that an interrupted run resumes and a rerun after a judging change takes seconds.

Columns: per clip, the reps counted with the exercise given under each transform (``3``, or
``2 ✗`` when it differs from the labelled count); the summary rows count, per transform, the
clips whose reps (given, and auto: attributed to the labelled exercise) are exact and the clips
whose recognised exercise is the labelled one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clips import SHARED, Clip, estimate, evaluate, labelled_clips

from formcheck.device.app import config as C
from formcheck.device.app.build import load_models

DEFAULT_TRANSFORMS = ("identity", "mirror", "half_fps", "zoom60_edge", "rot+7", "rot-7", "dim", "feet_cut", "head_cut")


# ---- transforms: (frames, fps) -> (frames, fps) ---------------------------------------------

Frames = list[np.ndarray]


def _zoom(scale: float, border: int) -> Callable[[Frames, float], tuple[Frames, float]]:
    def f(frames: Frames, fps: float) -> tuple[Frames, float]:
        out = []
        for im in frames:
            h, w = im.shape[:2]
            nw, nh = round(w * scale), round(h * scale)
            small = cv2.resize(im, (nw, nh), interpolation=cv2.INTER_AREA)
            top, left = (h - nh) // 2, (w - nw) // 2
            out.append(cv2.copyMakeBorder(small, top, h - nh - top, left, w - nw - left, border,
                                          value=(0, 0, 0)))
        return out, fps
    return f


def _rotate(deg: float) -> Callable[[Frames, float], tuple[Frames, float]]:
    def f(frames: Frames, fps: float) -> tuple[Frames, float]:
        h, w = frames[0].shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
        return [cv2.warpAffine(im, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                for im in frames], fps
    return f


def _tone(alpha: float, beta: float) -> Callable[[Frames, float], tuple[Frames, float]]:
    def f(frames: Frames, fps: float) -> tuple[Frames, float]:
        return [cv2.convertScaleAbs(im, alpha=alpha, beta=beta) for im in frames], fps
    return f


def _person_rows(frames: Frames) -> dict[str, np.ndarray]:
    """Image rows (pixels) of the person's nose, shoulders, knees and ankles on every third
    frame where someone is found; the lower leg of each frame (nearer the bottom edge)."""
    from formcheck.device.app.build import build_estimator
    from formcheck.device.pose.landmarks import LM

    est = build_estimator(C.Config())
    rows: dict[str, list[float]] = {"nose": [], "shoulders": [], "knee": [], "ankle": []}
    try:
        for i, im in enumerate(frames[::3]):
            pose = est.estimate(cv2.cvtColor(im, cv2.COLOR_BGR2RGB), i * 0.1)
            if pose.landmarks is None:
                continue
            y = pose.landmarks[:, 1] * im.shape[0]
            leg = max((("left_knee", "left_ankle"), ("right_knee", "right_ankle")), key=lambda k: y[LM[k[1]]])
            rows["nose"].append(y[LM["nose"]])
            rows["shoulders"].append((y[LM["left_shoulder"]] + y[LM["right_shoulder"]]) / 2)
            rows["knee"].append(y[LM[leg[0]]])
            rows["ankle"].append(y[LM[leg[1]]])
    finally:
        est.close()
    if not rows["nose"]:
        raise SystemExit("nobody found: cannot place the crop")
    return {k: np.asarray(v) for k, v in rows.items()}


def _cut(part: str) -> Callable[[Frames, float], tuple[Frames, float]]:
    def f(frames: Frames, fps: float) -> tuple[Frames, float]:
        h = frames[0].shape[0]
        r = _person_rows(frames)
        if part == "feet":
            top, bottom = 0, int(np.median(r["ankle"] - (r["ankle"] - r["knee"]) / 3))
        else:
            top, bottom = int(np.percentile(r["nose"] + (r["shoulders"] - r["nose"]) / 2, 10)), h
        top, bottom = max(0, top), min(h, bottom)
        bottom -= (bottom - top) % 2  # even height for the encoder
        return [im[top:bottom] for im in frames], fps
    return f


TRANSFORMS: dict[str, Callable[[Frames, float], tuple[Frames, float]]] = {
    "identity": lambda fr, fps: (fr, fps),
    "mirror": lambda fr, fps: ([cv2.flip(im, 1) for im in fr], fps),
    "half_fps": lambda fr, fps: (fr[::2], fps / 2),
    "zoom60_black": _zoom(0.6, cv2.BORDER_CONSTANT),
    "zoom60_edge": _zoom(0.6, cv2.BORDER_REPLICATE),
    "rot+7": _rotate(7.0),
    "rot-7": _rotate(-7.0),
    "dim": _tone(0.6, -20),
    "bright": _tone(1.4, 30),
    "speed1.5": lambda fr, fps: ([im for i, im in enumerate(fr) if i % 3 != 2], fps),
    "feet_cut": _cut("feet"),
    "head_cut": _cut("head"),
}


def read_video(path: Path) -> tuple[Frames, float]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"cannot open {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, im = cap.read()
        if not ok:
            break
        frames.append(im)
    cap.release()
    return frames, fps


def write_video(path: Path, frames: Frames, fps: float) -> None:
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not wr.isOpened():
        raise SystemExit(f"cannot write {path}")
    for im in frames:
        wr.write(im)
    wr.release()


# ---- runs --------------------------------------------------------------------------------------

def landmarks(video: Path, transform: str, out: Path, backend: str) -> tuple[str, str, float]:
    """Transform ``video``, estimate its poses and save them to ``out`` (a worker process)."""
    frames, fps = read_video(video)
    frames, fps = TRANSFORMS[transform](frames, fps)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="formcheck-robust-") as tmp:
        path = Path(tmp) / f"{video.stem}.{transform}.mp4"
        write_video(path, frames, fps)
        del frames
        t, lm, size = estimate(path, backend, C.Config().station.pose_model)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, t=t, lm=lm, size=np.array(size))
    return video.name, transform, time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=Path, default=SHARED / "videos", help="folder with LABELS.json and the clips")
    p.add_argument("--clips", default="", help="comma-separated clip names (default: all)")
    p.add_argument("--transforms", default=",".join(DEFAULT_TRANSFORMS),
                   help=f"comma-separated, of: {', '.join(TRANSFORMS)} (default: {','.join(DEFAULT_TRANSFORMS)})")
    p.add_argument("--backend", choices=("mediapipe", "litert"), default=C.Config().station.pose_backend)
    p.add_argument("--jobs", type=int, default=2, help="videos through pose at a time (default 2)")
    p.add_argument("--cache", type=Path, metavar="DIR", help="keep/reuse each transformed video's landmarks")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write every result as JSON")
    a = p.parse_args(argv)
    labelled = {c.name: c for c in labelled_clips(p, a.videos, a.clips)}
    transforms = [t.strip() for t in a.transforms.split(",") if t.strip()]
    for t in transforms:
        if t not in TRANSFORMS:
            p.error(f"unknown transform {t!r}")
    names = list(labelled)

    with tempfile.TemporaryDirectory(prefix="formcheck-robust-lm-") as tmp:
        cache = a.cache or Path(tmp)
        todo = [(n, t) for n in names for t in transforms
                if not (cache / f"{Path(n).stem}.{t}.npz").is_file()]
        t0 = time.monotonic()
        with ProcessPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            futs = [pool.submit(landmarks, a.videos / n, t, cache / f"{Path(n).stem}.{t}.npz", a.backend)
                    for n, t in todo]
            for k, f in enumerate(as_completed(futs), 1):
                name, tr, sec = f.result()
                print(f"[{k}/{len(todo)}] {name} {tr}: poses in {sec:.0f} s", file=sys.stderr, flush=True)
        pose_s = time.monotonic() - t0
        bundles = load_models(C.Config())
        results: dict[tuple[str, str], tuple[Clip, object]] = {}
        for n in names:
            for t in transforms:
                d = np.load(cache / f"{Path(n).stem}.{t}.npz")
                clip = replace(labelled[n], t=d["t"], lm=d["lm"].astype(np.float32),
                               size=tuple(int(x) for x in d["size"]))
                results[n, t] = (clip, evaluate(clip, bundles))

    head = ["clip (labelled reps)", *transforms]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for n in names:
        cells = []
        for t in transforms:
            clip, r = results[n, t]
            cell = str(r.given) + ("" if r.given == clip.reps else " ✗")
            if r.auto != r.given or r.wrong or set(r.recognised) != {clip.exercise}:
                cell += f" (auto {r.auto}, {'/'.join(r.recognised) or 'none'})"
            cells.append(cell)
        lines.append(f"| {n.removesuffix('.mp4')} ({labelled[n].reps}) | " + " | ".join(cells) + " |")
    for label, fn in (("reps exact, given", lambda c, r: r.given == c.reps),
                      ("reps within one, given", lambda c, r: abs(r.given - c.reps) <= 1),
                      ("reps exact, auto", lambda c, r: r.auto == c.reps and not r.wrong),
                      ("exercise recognised", lambda c, r: set(r.recognised) == {c.exercise})):
        lines.append(f"| **{label}** | " + " | ".join(
            f"{sum(fn(*results[n, t]) for n in names)}/{len(names)}" for t in transforms) + " |")
    n_ok = sum(r.given == c.reps for c, r in results.values())
    print(f"Robustness: {len(names)} clips × {len(transforms)} transforms, backend {a.backend}, "
          f"{len(todo)} videos through pose in {pose_s:.0f} s; reps exact with the exercise given on "
          f"{n_ok} of {len(results)}\n")
    print("\n".join(lines))
    if a.json:
        a.json.write_text(json.dumps([{"clip": n, "transform": t, "labelled": c.reps, "given": r.given,
                                       "auto": r.auto, "wrong": r.wrong, "recognised": r.recognised,
                                       "first_t": r.first_t} for (n, t), (c, r) in results.items()], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
