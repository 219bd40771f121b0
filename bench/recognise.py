"""Exercise recognition on real people: the recogniser on the AI-Hub sample's labelled clips.

Each AI-Hub label file is one clip seen by five cameras (A..E); every view is scored on its own
(the mean of the recogniser's sliding windows over the view's 16 frames) and counted right when
the top class is the clip's exercise. Labels-only landmarks: people's real poses, no BlazePose
error. One table: correct/total per exercise and in all, for each recogniser given.

    python bench/recognise.py                                  # the shipped recogniser
    python bench/recognise.py --models OLD_DIR --models NEW_DIR    # side by side
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from formcheck.device.exercises import EXERCISE_IDS
from formcheck.device.judging.bundle import default_bundle_dir, find_bundle, load_bundles
from formcheck.device.judging.classifier import Classifier
from formcheck.device.sequences import iter_dataset
from formcheck.train.data import sequence_windows

SHARED = Path(os.environ.get("FORMCHECK_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
SAMPLE = SHARED / "aihub-sample"


def score(models_dir: Path, data: Path) -> dict[str, Counter]:
    """Per exercise (the nine and any other AI-Hub exercise): a Counter of the top guesses."""
    rec = find_bundle(load_bundles(models_dir), "exercise")
    if rec is None:
        raise SystemExit(f"{models_dir}: no recogniser bundle")
    clf = Classifier(rec)
    per: dict[str, Counter] = defaultdict(Counter)
    for seq in iter_dataset(data):
        X = sequence_windows(seq, rec.spec)
        top = rec.labels[int(clf.predict(X).mean(0).argmax())] if len(X) else "<no window>"
        per[seq.exercise][top] += 1
    return per


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, action="append",
                    help="bundle folder with a recogniser (repeatable; default: the shipped one)")
    ap.add_argument("--sample", type=Path, default=SAMPLE, help=f"AI-Hub label files (default {SAMPLE})")
    args = ap.parse_args(argv)
    if not args.sample.is_dir():
        print(f"no AI-Hub sample at {args.sample}: nothing to measure")
        return 1
    from formcheck.train.extract import main as extract

    models = args.models or [default_bundle_dir()]
    with tempfile.TemporaryDirectory(prefix="formcheck-recognise-") as tmp:
        data = Path(tmp) / "aihub"
        with contextlib.redirect_stdout(io.StringIO()):  # its summary is not this table
            extract([str(args.sample), "-o", str(data), "-q"])
        results = [(m, score(m, data)) for m in models]
    exs = sorted({e for _, per in results for e in per}, key=lambda e: (e not in EXERCISE_IDS, e))
    nine = [e for e in exs if e in EXERCISE_IDS]
    print("| recogniser | " + " | ".join(nine) + " | all | other exercises → top guess |")
    print("|---|" + "---|" * (len(nine) + 2))
    for m, per in results:
        cells, ok, n = [], 0, 0
        for e in nine:
            k, t = per[e][e], sum(per[e].values())
            ok, n = ok + k, n + t
            cells.append(f"{k}/{t}")
        others = "; ".join(f"{e}: {per[e].most_common(1)[0][0]} {per[e].most_common(1)[0][1]}/{sum(per[e].values())}"
                           for e in exs if e not in EXERCISE_IDS)
        print(f"| {m} | " + " | ".join(cells) + f" | {ok}/{n} ({ok / max(n, 1):.0%}) | {others} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
