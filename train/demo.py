"""The built-in demo clip (``formcheck/device/demo/demo.npz``), made from synthetic motion.

``formcheck-station --demo`` replays it through the whole pipeline, so a new user sees reps
counted and judged with no camera. It holds a few short synthetic sequences (good reps and
named faults, different exercises and views) played back to back; regenerate it with::

    python -m formcheck.train.demo device/demo/demo.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
