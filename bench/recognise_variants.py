"""Exercise recognition on held-out synthetic people doing the variants real footage shows.

Fresh clips (seed 99, never trained on) of each variant: presses seated and standing with a
barbell or dumbbells seen from the front and the oblique cameras, alternating one-arm curls,
knee-ups with the hands behind the head, side lunges, pelvis-lift leg raises, deadlifts from
the floor, and the ``other`` movements. A clip is scored as the station decides: the mean of the
recogniser's sliding windows over the clip's exercising spans, ``idle`` set aside, top class.
One table: clips right / clips per variant (and the share of its windows whose top class is
right), for each recogniser given.

    python bench/recognise_variants.py                              # the shipped recogniser
    python bench/recognise_variants.py --models OLD --models NEW    # side by side
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from formcheck.device.exercises import IDLE, OTHER
from formcheck.device.judging.bundle import default_bundle_dir, find_bundle, load_bundles
from formcheck.device.judging.classifier import Classifier
from formcheck.train import synth
from formcheck.train.data import sequence_windows

OBLIQUE = ("front", "left-45", "right-45")
# (row name, clip kind, fixed program choices, the class it must be recognised as, views)
VARIANTS = [
    ("press standing barbell", "overhead_press", {"posture": "standing", "implement": "barbell"}, None, OBLIQUE),
    ("press standing dumbbell", "overhead_press", {"posture": "standing", "implement": "dumbbell"}, None, OBLIQUE),
    ("press seated barbell", "overhead_press", {"posture": "seated", "implement": "barbell"}, None, OBLIQUE),
    ("press seated dumbbell", "overhead_press", {"posture": "seated", "implement": "dumbbell"}, None, OBLIQUE),
    ("curl alternating one-arm", "barbell_curl", {"implement": "dumbbell", "arms": "alternating"}, None, None),
    ("knee-up hands behind head", "knee_up", {"hands_behind_head": "yes"}, None, None),
    ("knee-up (any arms)", "knee_up", {}, None, None),
    ("side lunge (both sides)", "side_lunge", {}, None, None),
    ("leg raise pelvis lift", "leg_raise", {"style": "pelvis_lift"}, None, None),
    ("deadlift from the floor", "deadlift", {"start": "floor"}, None, None),
    ("other: front raise", "other", {"movement": "front_raise"}, OTHER, None),
    ("other: forward lunge", "other", {"movement": "forward_lunge"}, OTHER, None),
    ("other: bent-over row", "other", {"movement": "bent_over_row"}, OTHER, None),
    ("other: calf raise", "other", {"movement": "calf_raise"}, OTHER, None),
    ("other: push-up", "other", {"movement": "push_up"}, OTHER, None),
]


def clips(kind: str, choices: dict, views, n: int, seed: int):
    for i in range(n):
        view = views[i % len(views)] if views else None
        yield synth.make_clip(synth.ClipSpec(kind, seed=seed, index=1000 + i, view=view, variants=choices or None)
                              ).sequences[0]


def decide(rec, clf, seq) -> tuple[str, float]:
    """(the top non-idle class over the clip's exercising spans, share of those windows right)."""
    ends: list[float] = []
    X = sequence_windows(seq, rec.spec, ends=ends)
    if not len(X):
        return "<no window>", 0.0
    ends_a = np.asarray(ends)
    keep = np.zeros(len(ends_a), bool)
    for a, b in seq.extra.get("active", []):
        keep |= (ends_a >= seq.t[a]) & (ends_a <= seq.t[b])
    p = clf.predict(X[keep] if keep.any() else X)
    labels = list(rec.labels)
    mean = p.mean(0)
    if IDLE in labels:
        mean[labels.index(IDLE)] = 0.0
    top = labels[int(mean.argmax())]
    want = seq.exercise
    win_right = float(np.mean([labels[int(k)] == want for k in p.argmax(1)]))
    return top, win_right


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, action="append",
                    help="bundle folder with a recogniser (repeatable; default: the shipped one)")
    ap.add_argument("--clips", type=int, default=20, help="clips per variant (default 20)")
    ap.add_argument("--seed", type=int, default=99, help="master seed of the held-out clips (default 99)")
    args = ap.parse_args(argv)
    models = args.models or [default_bundle_dir()]
    recs = []
    for m in models:
        rec = find_bundle(load_bundles(m), "exercise")
        if rec is None:
            raise SystemExit(f"{m}: no recogniser bundle")
        recs.append((rec, Classifier(rec)))
    rows = []
    totals = [[0, 0] for _ in recs]
    for name, kind, choices, want, views in VARIANTS:
        seqs = list(clips(kind, choices, views, args.clips, args.seed))
        cells = []
        for j, (rec, clf) in enumerate(recs):
            got = [decide(rec, clf, s) for s in seqs]
            right = sum(top == (want or kind) for top, _ in got)
            totals[j][0] += right
            totals[j][1] += len(seqs)
            wrong = [top for top, _ in got if top != (want or kind)]
            common = max(set(wrong), key=wrong.count) if wrong else ""
            cells.append(f"{right}/{len(seqs)} ({np.mean([w for _, w in got]):.0%})"
                         + (f" else {common}" if common else ""))
        rows.append((name, cells))
    head = " | ".join(str(m) for m in models)
    print(f"Recogniser on held-out synthetic variants ({args.clips} clips each, seed {args.seed}): "
          "clips right (windows right), most common wrong answer")
    print()
    print(f"| variant | {head} |")
    print("|---|" + "---|" * len(recs))
    for name, cells in rows:
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| **all** | " + " | ".join(f"**{r}/{n} ({r / max(n, 1):.0%})**" for r, n in totals) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
