"""``formcheck-synth``: generate synthetic exercise landmark datasets, look at clips, and compare
synthetic with real landmarks.

Exit codes: 0 success, 1 the work failed (clips failed to generate, no video readable), 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from formcheck.device.exercises import EXERCISE_IDS, IDLE, OTHER

log = logging.getLogger(__name__)

EPILOG = """\
modes (pick one):
  generate (default)  -o DIR: a dataset of .npz clips (formcheck.device.sequences format,
                      origin "synthetic") plus manifest.json; resumable (existing clips kept)
  --render WHAT       draw a clip as a PNG strip (one rep, several frames) or an animated GIF
                      (by the -o extension). WHAT is a dataset .npz file, a clip id such as
                      synth-0-squat-00012 (regenerated from its seed), or EXERCISE[:FAULT,...]
                      for a fresh clip (e.g. squat:knees_in_line); CHOICE=VALUE items fix a
                      program choice (overhead_press:posture=seated,implement=dumbbell;
                      other:movement=push_up; deadlift:start=floor)
  --report OUT        realism report: BlazePose on real videos next to matching synthetic
                      clips (angle ranges, bone ratios, jitter, visibility), figures + report.md

examples:
  formcheck-synth -o data/synth --clips-per-exercise 300 --workers 2
  formcheck-synth -o data/synth-small --clips-per-exercise 20 --exercises squat deadlift --seed 7
  formcheck-synth -o data/synth --clips-per-exercise 300 --idle-clips 600 --views-per-clip 2
  formcheck-synth --render squat:knees_in_line -o knees_cave.png --view front
  formcheck-synth --render squat:knees_in_line -o knees_cave.gif --clean
  formcheck-synth --render synth-0-deadlift-00003 -o dl.gif
  formcheck-synth --render data/synth/squat/synth-0-squat-00012.npz -o clip.png
  formcheck-synth --report reports/synth --videos ../shared/data/videos

conditions: each exercise's condition keys (e.g. squat: back_neutral head_forward
knees_in_line heels_down rom); see formcheck.device.exercises. Labels in the data are the
AI-Hub condition names with a bool each; "correct" is all true; reps are [start, end] frames.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="formcheck-synth",
        description="Synthetic exercise motion: a kinematic generator of BlazePose-like landmark "
                    "clips for the nine exercises (correct and with every AI-Hub fault) and for "
                    "idle (no exercise).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--render", metavar="WHAT", help="draw a clip (see modes below); needs -o FILE.png|.gif")
    mode.add_argument("--report", metavar="OUT", help="write the realism report into folder OUT")
    p.add_argument("-o", "--out", metavar="PATH", help="dataset folder (generate) or image file (--render)")
    g = p.add_argument_group("generate")
    g.add_argument("--clips-per-exercise", type=int, default=100, metavar="N",
                   help="clips (motions) per exercise (default 100)")
    g.add_argument("--exercises", nargs="+", metavar="EX", default=None,
                   help=f"exercises to make (space or comma separated; default all nine + {IDLE} + "
                        f"{OTHER}): " + " ".join(EXERCISE_IDS))
    g.add_argument("--idle-clips", type=int, default=None, metavar="N",
                   help=f"clips of the '{IDLE}' class (nobody exercising); default = --clips-per-exercise")
    g.add_argument("--other-clips", type=int, default=None, metavar="N",
                   help=f"clips of the '{OTHER}' class (repeated movements outside the nine: front raise, "
                        "forward lunge, bent-over row, calf raise, push-up); default = --clips-per-exercise")
    g.add_argument("--views-per-clip", type=int, default=1, metavar="N",
                   help="cameras per motion (each a sequence of the same group; default 1)")
    g.add_argument("--p-correct", type=float, default=0.3, metavar="P",
                   help="share of fully correct clips (default 0.3; the rest have 1+ faults)")
    g.add_argument("--noise", type=float, default=1.0, metavar="X",
                   help="pose-estimator realism scale: 1 = calibrated to BlazePose, 0 = clean (default 1)")
    g.add_argument("--bodies", type=int, default=None, metavar="N",
                   help="size of the pool of sampled people (default 256)")
    g.add_argument("--seed", type=int, default=0, help="master seed (default 0); same seed, same data")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes (default: CPU count, at most 8); the output does not depend on it")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = p.add_argument_group("render")
    r.add_argument("--view", default=None, help="camera for a fresh clip: front, left-45, left-90, left-135, "
                                                "right-45, right-90, right-135, back")
    r.add_argument("--clean", action="store_true", help="fresh clip without estimator noise")
    r.add_argument("--frames", type=int, default=8, help="frames in a PNG strip (default 8)")
    r.add_argument("--sequence", default=None, help="which sequence of a multi-sequence .npz (id)")
    rp = p.add_argument_group("report")
    rp.add_argument("--videos", default=None, help="folder of real videos (default ../shared/data/videos)")
    rp.add_argument("--cache", default=None, help="landmark cache for the real videos (default /tmp/formcheck-synth-cache)")
    rp.add_argument("--n-synth", type=int, default=24, help="synthetic clips per real clip (default 24)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def _exercises(values: list[str] | None) -> tuple[str, ...]:
    if not values:
        return (*EXERCISE_IDS, IDLE, OTHER)
    out = []
    for v in values:
        out += [x for x in re.split(r"[,\s]+", v) if x]
    bad = [x for x in out if x not in (*EXERCISE_IDS, IDLE, OTHER)]
    if bad:
        raise ValueError(f"--exercises: unknown {', '.join(bad)}; known: {' '.join(EXERCISE_IDS)} {IDLE} {OTHER}")
    return tuple(dict.fromkeys(out))


_CLIP_ID = re.compile(r"^synth-(\d+)-([a-z_]+)-(\d+)(?:-v(\d+))?$")


def resolve_render(what: str, seed: int, view: str | None, clean: bool, sequence: str | None):
    """The sequences ``--render WHAT`` means (see the epilog)."""
    from formcheck.device.sequences import read_sequences

    from .. import synth

    p = Path(what)
    if p.suffix == ".npz":
        if not p.exists():
            raise FileNotFoundError(f"--render: no such file {p}")
        seqs = read_sequences(p)
        if sequence:
            seqs = [s for s in seqs if s.id == sequence]
            if not seqs:
                raise ValueError(f"--sequence: {sequence!r} is not in {p}")
        return seqs
    m = _CLIP_ID.match(what)
    if m:
        s_seed, kind, idx, v = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        if kind not in synth.KINDS:
            raise ValueError(f"--render: {what!r} names unknown exercise {kind!r}")
        clip = synth.make_clip(synth.ClipSpec(kind, s_seed, idx, noise=0.0 if clean else 1.0,
                                              views_per_clip=int(v) + 1 if v else 1))
        return clip.sequences[int(v) if v else 0:][:1]
    kind, _, faults = what.partition(":")
    if kind not in synth.KINDS:
        raise ValueError(f"--render: {what!r} is not a .npz file, a clip id, or EXERCISE[:FAULT,...] "
                         f"(exercises: {' '.join(synth.KINDS)})")
    items = [f for f in re.split(r"[,\s]+", faults) if f]
    fl = tuple(f for f in items if "=" not in f)
    variants = dict(f.split("=", 1) for f in items if "=" in f)  # program choices, e.g. posture=seated
    spec = synth.ClipSpec(kind, seed, 0, faults=fl if kind not in synth.UNJUDGED else None, view=view,
                          noise=0.0 if clean else 1.0, variants=variants or None)
    return synth.make_clip(spec).sequences


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")

    def usage(msg: str) -> int:
        parser.print_usage(sys.stderr)
        print(f"formcheck-synth: error: {msg}", file=sys.stderr)
        return 2

    from .. import synth

    if args.report:
        from .report import DEFAULT_CACHE, build_report

        videos = Path(args.videos) if args.videos else Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
        if not videos.is_dir():
            return usage(f"--videos: {videos} is not a folder of videos")
        try:
            path = build_report(args.report, videos, args.cache or DEFAULT_CACHE, n_synth=args.n_synth, seed=args.seed)
        except FileNotFoundError as e:
            log.error("%s", e)
            return 1
        print(path)
        return 0

    if not args.out:
        return usage("-o/--out is required (a dataset folder, or the image file for --render)")

    if args.render:
        from .render import render

        out = Path(args.out)
        if out.suffix.lower() not in (".png", ".gif", ".jpg", ".jpeg", ".webp"):
            return usage(f"-o {out}: use a .png (strip) or .gif (animation) file name")
        if args.view is not None and args.view not in synth.ALL_VIEWS:
            return usage(f"--view {args.view!r}: choose one of {', '.join(synth.ALL_VIEWS)}")
        try:
            seqs = resolve_render(args.render, args.seed, args.view, args.clean, args.sequence)
        except (ValueError, FileNotFoundError) as e:
            return usage(str(e))
        path = render(seqs, out, n=args.frames)
        print(path)
        return 0

    if args.noise < 0:
        return usage("--noise must be >= 0")
    for name, n in (("--idle-clips", args.idle_clips), ("--other-clips", args.other_clips)):
        if n is not None and n < 0:
            return usage(f"{name} must be >= 0")
    try:
        exercises = _exercises(args.exercises)
        if args.idle_clips and IDLE not in exercises:
            exercises = (*exercises, IDLE)
        if args.other_clips and OTHER not in exercises:
            exercises = (*exercises, OTHER)
        cfg = synth.SynthConfig(exercises=exercises, clips_per_exercise=args.clips_per_exercise,
                                idle_clips=args.idle_clips, other_clips=args.other_clips, seed=args.seed, views_per_clip=args.views_per_clip,
                                p_correct=args.p_correct, noise=args.noise, bodies=args.bodies)
    except ValueError as e:
        return usage(str(e))
    import os

    workers = args.workers if args.workers else min(8, os.cpu_count() or 1)
    if workers < 1:
        return usage("--workers must be >= 1")
    summary = synth.generate_dataset(args.out, cfg, workers=workers, progress=not args.no_progress)
    print(f"{summary['clips']} clips ({summary['frames']} frames) in {summary['seconds']:.1f} s "
          f"({summary['clips_per_second']} clips/s, {workers} workers) -> {args.out}"
          + (f"; {summary['skipped_existing']} already there" if summary["skipped_existing"] else ""))
    if summary["n_errors"]:
        log.error("%d clips failed, e.g. %s", summary["n_errors"], summary["errors"][:1])
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
