"""Which conditions models have earned a say: each model-decided condition on real people.

For every condition a conditions model would decide (no measure decides it; the pass side of a
fail-only one), prints one table row:

- AI-Hub sample (labels-only keypoints of real people, one rep window per camera view; even
  files = the calibration half the decision is taken on, odd files = held out): the model's
  balanced accuracy, false alarms on good labels and catch at ``judge.condition_threshold``,
  beside the measure at its threshold where one exists (a view without a value counts as no
  call) and the balanced accuracy chance reaches with 95% one-sided confidence;
- the real dev clips (``LABELS.json``; reps from the station's judge): reps whose model P(true)
  is below the threshold, on clips labelled correct and on unlabelled ones (unverified: assumed
  good);
- the rule's verdict (earned: on the calibration half, false alarms at most ``--max-fa`` and
  balanced above both chance's bound and the measure) and whether ``conditions.model_decides``
  lists it. No real labels: not earned (not validated).

    python bench/model_trust.py                     # videos through the pose pipeline
    python bench/model_trust.py --cache CACHE_DIR   # dev clips from cached landmarks
    python bench/model_trust.py --config FILE.toml  # another station config
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from formcheck.device.app.build import build_judge, choose_models, load_models
from formcheck.device.app.config import load, loads, packaged_default_text
from formcheck.device.events import RepEvent
from formcheck.device.exercises import EXERCISE_IDS, EXERCISES
from formcheck.device.judging import measures as M
from formcheck.device.judging.classifier import Classifier
from formcheck.device.judging.conditions import judge_conditions
from formcheck.device.pose.landmarks import Pose

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conditions import clip_landmarks

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FORMCHECK_SHARED_DATA", REPO.parent / "shared" / "data"))
Z95 = 1.645  # one-sided 95%


class Tally:
    def __init__(self):
        self.tp = self.fn = self.fp = self.tn = 0

    def add(self, fault: bool, fails: bool) -> None:
        if fault:
            self.tp += fails
            self.fn += not fails
        else:
            self.fp += fails
            self.tn += not fails

    @property
    def faults(self):
        return self.tp + self.fn

    @property
    def good(self):
        return self.fp + self.tn

    @property
    def fa(self):
        return self.fp / self.good if self.good else math.nan

    @property
    def catch(self):
        return self.tp / self.faults if self.faults else math.nan

    @property
    def balanced(self):
        return (self.catch + 1 - self.fa) / 2

    @property
    def chance_bound(self):
        """Balanced accuracy a coin flip exceeds only 5% of the time on this many labels."""
        if not (self.faults and self.good):
            return math.nan
        return 0.5 + Z95 * 0.5 * math.sqrt(0.25 / self.faults + 0.25 / self.good)

    def show(self):
        if not (self.faults and self.good):
            return "–"
        return f"{self.balanced:.2f} / {self.fa:.0%} / {self.catch:.0%}"


def model_decided(cfg, bundles) -> dict[str, list[str]]:
    """Per exercise, the conditions its conditions model would decide (no measure decides them)."""
    out = {}
    for b in bundles:
        if b.task == "conditions" and b.exercise in EXERCISES:
            ids = [f"{b.exercise}.{k}" for k in b.labels]
            out[b.exercise] = [k for k in ids if k not in cfg.conditions.measured and k not in cfg.conditions.unseen]
    return out


def run_aihub(folder: Path, cfg, bundles, thr: float):
    """{half: {condition id: (model Tally, measure Tally or None)}}, half 0 = calibration."""
    from formcheck.train.aihub import load_sequences
    from formcheck.train.data import sequence_windows

    conds = {b.exercise: b for b in bundles if b.task == "conditions"}
    out = {0: defaultdict(lambda: [Tally(), Tally()]), 1: defaultdict(lambda: [Tally(), Tally()])}
    for i, f in enumerate(sorted(folder.glob("*.json"))):
        for seq in load_sequences(f):
            b = conds.get(seq.exercise)
            if b is None:
                continue
            X = sequence_windows(seq, b.spec)
            if not len(X):
                continue
            p = Classifier(b).predict(X).mean(0)
            labels = dict(zip(seq.conditions, seq.condition_values, strict=True))
            name = {c.key: c.name for c in EXERCISES[seq.exercise].conditions}
            measured = {v.key: v for v in judge_conditions(seq.exercise, seq.t, seq.landmarks, None,
                                                           seq.image_size, config=cfg.conditions)}
            for j, k in enumerate(b.labels):
                holds = labels.get(name.get(k, k))
                if holds is None:
                    continue
                cid = f"{seq.exercise}.{k}"
                model, measure = out[i % 2][cid]
                model.add(not holds, bool(p[j] < thr))
                d, v = M.BY_ID.get(cid), measured.get(k)
                if d is not None:
                    fails = v is not None and v.value is not None and (
                        v.value > v.threshold if d.fault == "above" else v.value < v.threshold)
                    measure.add(not holds, bool(fails))
    return out


def run_clips(videos: Path, cfg, bundles, thr: float, cache: Path | None, backend: str):
    """{condition id: [flagged good, good reps, flagged unverified, unverified reps]}, and the
    station's own verdicts over every clip: (reps, reps judged incorrect)."""
    labels = json.loads((videos / "LABELS.json").read_text())["clips"]
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    reps = flagged = 0
    for name, lab in sorted(labels.items()):
        ex = lab["exercise"]
        form = lab.get("form")
        t, lm, _world, size = clip_landmarks(videos / name, cache, backend)
        judge = build_judge(cfg, bundles, ex)
        events = []
        for ti, li in zip(t, lm, strict=True):
            ok = bool(np.isfinite(li[:, :2]).all(axis=1).any())
            events += judge.update(Pose(t=float(ti), landmarks=li if ok else None, image_size=size,
                                        score=0.9 if ok else 0.0))
        events += judge.finish()
        col = 0 if form else 2
        for e in (e for e in events if isinstance(e, RepEvent)):
            reps += 1
            flagged += e.correct is False
            if form and form.startswith("incorrect"):
                continue  # a labelled fault: not a good rep
            seen = set()
            for c in e.conditions:
                cid = f"{ex}.{c['key']}"
                if c["p"] is None or cid in seen:
                    continue
                seen.add(cid)
                out[cid][col] += c["p"] < thr
                out[cid][col + 1] += 1
    return out, (reps, flagged)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, help="station config (default: the packaged one)")
    ap.add_argument("--aihub", type=Path, default=SHARED / "aihub-sample")
    ap.add_argument("--videos", type=Path, default=SHARED / "videos")
    ap.add_argument("--cache", type=Path, help="landmark cache of the videos (skips pose)")
    ap.add_argument("--backend", default="litert", help="pose backend for the videos (default litert)")
    ap.add_argument("--max-fa", type=float, default=0.10, help="false alarms allowed on good reps (default 0.10)")
    args = ap.parse_args(argv)
    cfg = load(args.config) if args.config else loads(packaged_default_text())
    thr = cfg.judge.condition_threshold
    bundles = choose_models(load_models(cfg), cfg.station.window_mode)
    decided = model_decided(cfg, bundles)
    ai = run_aihub(args.aihub, cfg, bundles, thr) if args.aihub.is_dir() else {0: {}, 1: {}}
    clips, (reps, flagged) = (run_clips(args.videos, cfg, bundles, thr, args.cache, args.backend)
                              if args.videos.is_dir() else ({}, (0, 0)))

    print(f"model fails a condition below P(true) {thr:g}; AI-Hub cells: balanced / false alarms on good / catch")
    print()
    print("| condition | how | AI-Hub calibration: model | measure | chance bound | AI-Hub held out: model "
          "| measure | dev clips flagged: correct-labelled | unverified | earned | model_decides |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for ex in EXERCISE_IDS:
        for cid in decided.get(ex, []):
            (cm, cs), (hm, hs) = ai[0].get(cid, (Tally(), Tally())), ai[1].get(cid, (Tally(), Tally()))
            how = "fail-only" if cid in cfg.conditions.fail_only else "model"
            if not (cm.faults and cm.good):
                earned = "no real labels"
            else:
                bar = max(cm.chance_bound, cs.balanced if cs.faults and cs.good else 0.0)
                earned = "yes" if cm.fa <= args.max_fa and cm.balanced > bar else "no"
            g = clips.get(cid, [0, 0, 0, 0])
            print(f"| {cid} | {how} | {cm.show()} | {cs.show()} | "
                  f"{'–' if math.isnan(cm.chance_bound) else f'{cm.chance_bound:.2f}'} | {hm.show()} | "
                  f"{hs.show()} | {g[0]}/{g[1]} | {g[2]}/{g[3]} | {earned} | "
                  f"{'listed' if cid in cfg.conditions.model_decides else '–'} |")
    print()
    print(f"dev clips through the station's judge as configured: {reps} reps, {flagged} judged incorrect")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
