"""The built-in demo clip (``formcheck/device/demo/demo.npz``), made from synthetic motion.

``formcheck-station --demo`` replays it through the whole pipeline, so a new user sees reps
counted and judged with no camera. It holds a few short synthetic sequences (good reps and
named faults, different exercises and views) played back to back; regenerate it with::

    python -m formcheck.train.demo device/demo/demo.npz
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from formcheck.device.sequences import LandmarkSequence, write_sequences

from .synth import ClipSpec, make_clip

# (exercise, faults, view, seed): a good squat, a squat with knees caving in, a half-range
# curl, and a good side lunge.
DEMO_CLIPS: tuple[tuple[str, tuple[str, ...], str, int], ...] = (
    ("squat", (), "left-45", 11),
    ("squat", ("knees_in_line",), "front", 12),
    ("barbell_curl", ("rom",), "left-90", 13),
    ("side_lunge", (), "front", 14),
)


def _first_reps(seq: LandmarkSequence, n: int, tail_s: float = 1.0) -> LandmarkSequence:
    """The sequence cut one second after its n-th rep (keeps the package and the demo short)."""
    if len(seq.reps) <= n:
        return seq
    end = min(len(seq.t), seq.reps[n - 1][1] + int(tail_s * seq.fps) + 1)
    return LandmarkSequence(**{**seq.meta(), "t": seq.t[:end], "landmarks": seq.landmarks[:end],
                               "reps": seq.reps[:n]})


def make_demo(path: str | Path, fps: float = 15.0, reps: int = 3) -> Path:
    seqs = []
    for i, (ex, faults, view, seed) in enumerate(DEMO_CLIPS):
        clip = make_clip(ClipSpec(kind=ex, seed=seed, index=i, faults=faults, view=view, fps=fps,
                                  image_size=(1280, 720), swaps=False, dropouts=False))
        seq = _first_reps(clip.sequences[0], reps)
        seq.id = f"demo-{i}-{ex}"
        seqs.append(seq)
    return write_sequences(path, seqs)


# ---- a stick-figure squatter (side view) for tests and benchmarks -------------------------------
# Simpler than :mod:`.synth` and fixed: the real rep counter counts exactly one rep per phase
# cycle, so a test or a benchmark knows what the station must report.

def squat_frame(p: float) -> np.ndarray:
    """p = 0 standing, 1 at the bottom of a deep squat; (33, 4) landmarks, image coords."""
    a, b, c, arm = (math.radians(d * p) for d in (35, 100, 40, 90))
    ank = np.array([0.5, 0.9])
    knee = ank + 0.19 * np.array([math.sin(a), -math.cos(a)])
    hip = knee + 0.19 * np.array([-math.sin(b), -math.cos(b)])
    sho = hip + 0.27 * np.array([math.sin(c), -math.cos(c)])
    elb = sho + 0.15 * np.array([math.sin(arm), math.cos(arm)])
    wri = elb + 0.14 * np.array([math.sin(arm), math.cos(arm)])
    pts = {0: sho + np.array([0.04, -0.08]), 11: sho, 13: elb, 15: wri, 23: hip, 25: knee, 27: ank,
           29: ank + np.array([-0.03, 0.01]), 31: ank + np.array([0.07, 0.015])}
    lm = np.zeros((33, 4), np.float32)
    lm[:, 3] = 0.99
    lm[1:11, :2] = pts[0] + np.array([0.0, -0.01])
    for i, v in pts.items():
        lm[i, :2] = v
        if i:
            lm[i + 1, :2] = v + np.array([0.01, 0.0])  # the far side, nearly hidden behind
    lm[[17, 19, 21], :2] = wri
    lm[[18, 20, 22], :2] = lm[16, :2]
    return lm


def squat_phases(n_reps: int, fps: float, lead_s: float = 2.0, rep_s: float = 2.0,
                 rest_s: float = 1.0, tail_s: float = 0.0) -> list[float]:
    """Squat depth per frame: ``lead_s`` standing, then reps of ``rep_s`` each followed by
    ``rest_s`` standing, then ``tail_s`` standing."""
    ps = [0.0] * int(lead_s * fps)
    for _ in range(n_reps):
        ps += list(0.5 - 0.5 * np.cos(np.linspace(0, 2 * np.pi, int(rep_s * fps))))
        ps += [0.0] * int(rest_s * fps)
    return ps + [0.0] * int(tail_s * fps)


def squat_landmarks(phases, seed: int = 0) -> np.ndarray:
    """The squatter at each depth of ``phases``, with 0.002 of Gaussian jitter: (N, 33, 4)."""
    lm = np.stack([squat_frame(p) for p in phases])
    lm[:, :, :2] += np.random.default_rng(seed).normal(0, 0.002, lm[:, :, :2].shape).astype(np.float32)
    return lm


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m formcheck.train.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="output .npz (the packaged one is device/demo/demo.npz)")
    args = p.parse_args(argv)
    path = make_demo(args.out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
