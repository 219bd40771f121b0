"""Robustness of rep counting and exercise auto-recognition to plausible differences between
the three real clips and unseen ones. Prints one markdown table.

    .venv/bin/python bench/robustness.py [--clips squat_front,barbell_curl_side]
                                         [--transforms identity,mirror,...]
                                         [--backend mediapipe|litert] [--jobs 2] [--keep DIR]

Each real clip in ``../shared/data/videos`` is rewritten with OpenCV (to a temporary folder,
never into the repository) under each transform:

- ``identity``: decoded and re-encoded unchanged (the control: same codec path as the others)
- ``mirror``: flipped left-right
- ``half_fps``: every other frame dropped, written at fps/2 (same duration, half the samples)
- ``zoom60_black`` / ``zoom60_edge``: the frame scaled to 60% and centred on a canvas of the
  original size, padded black / with replicated edge pixels (the person further away)
- ``rot+7`` / ``rot-7``: rotated 7 degrees about the centre (camera roll), edges replicated
- ``dim`` / ``bright``: contrast and brightness changed (0.6x - 20, 1.4x + 30)
- ``speed1.5``: every third frame dropped, written at the original fps (the person 1.5x faster)

and run through the real daemon as a subprocess, as tests/test_station.py's ``video_runs``
does (``python -m formcheck.device.app.station --config CFG --source VIDEO --fast``, GPIO and
display off), twice: with the true exercise given (``--exercise squat``: does counting
survive?) and with ``--exercise auto`` (is the exercise recognised, when, and are the reps
then counted?). Runs go ``--jobs`` at a time (mediapipe uses one core each).

Columns: reps counted with the exercise given / expected; the exercise(s) announced in auto
mode in order, with the clip time (s, of the transformed clip) and confidence of the first
``exercise`` event ("end of clip": decided only when the stream ended, the clip being
shorter than the recogniser's evidence time); the reps counted in auto mode (rep events of
the true exercise; reps credited to a wrong exercise are listed separately); the clip's
duration; ``ok`` when both counts are exact and the only exercise recognised is the true one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"

# clip stem -> (true exercise, reps in the clip)
CLIPS = {"squat_front": ("squat", 3), "side_lunge_front": ("side_lunge", 10),
         "barbell_curl_side": ("barbell_curl", 1)}

CONFIG = """[station]
pose_backend = "{backend}"
[gpio]
enabled = false
[display]
enabled = false
[logging]
stats_interval = 3600.0
"""


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

@dataclass
class Run:
    clip: str
    transform: str
    mode: str  # the --exercise given: the true exercise or "auto"
    video: Path
    events: list[dict] = field(default_factory=list)
    err: str = ""
    code: int | None = None
    seconds: float = 0.0


def parse_events(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def run_all(runs: list[Run], cfg: Path, width: int) -> None:
    """Each run's station as a subprocess, ``width`` at a time; stdout/stderr go to files
    beside the video (no pipe can fill up while another process is waited for)."""
    pending = list(runs)
    active: dict[subprocess.Popen, tuple[Run, float, Path, Path]] = {}
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    done = 0
    while pending or active:
        while pending and len(active) < width:
            r = pending.pop(0)
            cmd = [sys.executable, "-m", "formcheck.device.app.station", "--config", str(cfg),
                   "--source", str(r.video), "--exercise", r.mode, "--fast"]
            out = r.video.with_suffix(f".{r.mode}.jsonl")
            err = r.video.with_suffix(f".{r.mode}.log")
            with out.open("w") as fo, err.open("w") as fe:
                p = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True, env=env, cwd=REPO)
            active[p] = (r, time.monotonic(), out, err)
        time.sleep(0.1)
        for p in [p for p in active if p.poll() is not None]:
            r, t0, out, err = active.pop(p)
            r.events, r.err = parse_events(out.read_text()), err.read_text()
            r.code, r.seconds = p.returncode, time.monotonic() - t0
            done += 1
            print(f"[{done}/{len(runs)}] {r.clip} {r.transform} --exercise {r.mode}: "
                  f"{sum(e.get('event') == 'rep' for e in r.events)} reps, exit {r.code}, "
                  f"{r.seconds:.0f} s", file=sys.stderr, flush=True)


# ---- the table ---------------------------------------------------------------------------------

def summarise(given: Run, auto: Run, exercise: str, expected: int, duration: float) -> tuple[list[str], bool]:
    reps_given = [e for e in given.events if e.get("event") == "rep"]
    n_given = sum(e.get("exercise") == exercise for e in reps_given)
    ex_events = [e for e in auto.events if e.get("event") == "exercise" and e.get("exercise") != "auto"]
    chosen = [e["exercise"] for e in ex_events]
    if ex_events:
        first = ex_events[0]
        conf = first.get("confidence")
        first_s = f"{first['t']:.1f} s" + (f" (p={conf:.2f})" if conf is not None else "")
        if first["t"] >= duration - 0.1:
            first_s += ", end of clip"  # decided by Judge.finish(): too short for the evidence time
    else:
        first_s = "—"
    reps_auto = [e for e in auto.events if e.get("event") == "rep"]
    n_auto = sum(e.get("exercise") == exercise for e in reps_auto)
    wrong = {}
    for e in reps_auto:
        if e.get("exercise") != exercise:
            wrong[e.get("exercise")] = wrong.get(e.get("exercise"), 0) + 1
    wrong_s = (" + " + ", ".join(f"{n} as {k}" for k, n in wrong.items())) if wrong else ""
    failed = [r for r in (given, auto) if r.code != 0 or "end of input" not in r.err]
    ok = (n_given == expected and len(reps_given) == expected and chosen and set(chosen) == {exercise}
          and n_auto == expected and not wrong and not failed)
    note = "" if not failed else " (exit " + ",".join(str(r.code) for r in failed) + ")"
    row = [given.clip, given.transform, f"{n_given}/{expected}",
           " → ".join(chosen) if chosen else "none", first_s, f"{n_auto}/{expected}{wrong_s}",
           f"{duration:.1f} s", ("ok" if ok else "**FAIL**") + note]
    return row, bool(ok)


def markdown(rows: list[list[str]]) -> str:
    head = ["clip", "transform", "reps (given)", "recognised (auto)", "first exercise event",
            "reps (auto)", "clip length", ""]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", default=",".join(CLIPS), help=f"comma-separated, of: {', '.join(CLIPS)}")
    p.add_argument("--transforms", default=",".join(TRANSFORMS),
                   help=f"comma-separated, of: {', '.join(TRANSFORMS)}")
    p.add_argument("--backend", choices=("mediapipe", "litert"), default="mediapipe")
    p.add_argument("--jobs", type=int, default=2, help="station processes at a time (default 2)")
    p.add_argument("--videos", type=Path, default=VIDEOS, help="folder of the real clips")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="write the transformed videos and each run's events here (outside the repo)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write every run's events as JSON")
    a = p.parse_args(argv)
    clips = [c.strip().removesuffix(".mp4") for c in a.clips.split(",") if c.strip()]
    transforms = [t.strip() for t in a.transforms.split(",") if t.strip()]
    for c in clips:
        if c not in CLIPS:
            p.error(f"unknown clip {c!r}")
    for t in transforms:
        if t not in TRANSFORMS:
            p.error(f"unknown transform {t!r}")

    with tempfile.TemporaryDirectory(prefix="formcheck-robust-") as tmp:
        work = a.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        cfg = work / "station.toml"
        cfg.write_text(CONFIG.format(backend=a.backend))
        runs: list[Run] = []
        durations: dict[tuple[str, str], float] = {}
        for c in clips:
            frames, fps = read_video(a.videos / f"{c}.mp4")
            for t in transforms:
                fr, f = TRANSFORMS[t](frames, fps)
                video = work / f"{c}.{t}.mp4"
                write_video(video, fr, f)
                durations[c, t] = len(fr) / f
                exercise = CLIPS[c][0]
                runs += [Run(c, t, exercise, video), Run(c, t, "auto", video)]
            del frames
        t0 = time.monotonic()
        run_all(runs, cfg, max(1, a.jobs))
        wall = time.monotonic() - t0
        by = {(r.clip, r.transform, r.mode): r for r in runs}
        rows, n_ok = [], 0
        for c in clips:
            exercise, expected = CLIPS[c]
            for t in transforms:
                row, ok = summarise(by[c, t, exercise], by[c, t, "auto"], exercise, expected, durations[c, t])
                rows.append(row)
                n_ok += ok
        if a.json:
            a.json.write_text(json.dumps([{"clip": r.clip, "transform": r.transform, "mode": r.mode,
                                           "code": r.code, "events": r.events,
                                           "stderr_tail": r.err[-2000:]} for r in runs], indent=1))
    print(f"Robustness: {len(rows)} clip × transform pairs, backend {a.backend}, "
          f"{len(runs)} station runs in {wall:.0f} s; {n_ok} of {len(rows)} fully right\n")
    print(markdown(rows))
    return 0 if n_ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
