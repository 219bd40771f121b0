"""How many corrections it takes to stop a false cue, on synthetic persons with a consistent style.

A *person* is one synthetic body filmed from one side, whose reps all lean the same way on one
condition while staying inside the generator's natural variation (labelled correct), e.g. a
squatter who always leans a little more. Persons on whom the shipped models give a false cue
on at least ``--min-rate`` of their reps are kept (a probe of two clips; cues a model decided:
a measured condition's threshold is not personal). Then, through the
real pieces: each training clip's reps go through the judge, the personal thresholds and a
real rep history; every false-cued rep is marked wrong (``History.correct_last``) and
``formcheck-train personal``'s fit is rerun. After each correction the person's held-out clips
(same style, unseen reps) are scored: reps with a false cue, and reps with a real fault of the
habit's condition (severity 0.7) still caught.

    python bench/personal.py                  # 4 persons, squat and deadlift
    python bench/personal.py --persons 6 --exercises squat barbell_curl --margin 0.1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from verdicts import play

from formcheck.device.exercises import EXERCISES, ROM
from formcheck.device.judging.bundle import load_default_bundles
from formcheck.device.judging.classifier import Classifier
from formcheck.device.judging.conditions import ConditionConfig
from formcheck.device.judging.judge import Judge, JudgeConfig, ModelSet
from formcheck.device.judging.personal import Personaliser, PersonalThresholds, apply_thresholds
from formcheck.device.outputs.history import History
from formcheck.train.personal import FitSettings, fit
from formcheck.train.synth import ClipSpec, body_pool, make_clip

BASE = JudgeConfig().condition_threshold
# Personal thresholds move what models decide; the shipped config trusts no model on real people
# yet (conditions.model_decides), so here every model decides where no measure does.
EVERY_MODEL = ConditionConfig().trusting_every_model()


@dataclass
class Person:
    exercise: str
    habit: str  # the condition their style leans on
    severity: float  # < the generator's fault threshold: a correct rep
    body_index: int
    azimuth: float
    seed: int
    target: str = ""  # the condition falsely cued most (found by the probe)
    probe_rate: float = 0.0
    log: list = field(default_factory=list)


def clips(p: Person, models, start: int, n: int, fault: bool = False):
    """Rep events of ``n`` clips of this person (clip indices from ``start``)."""
    body = body_pool(p.seed)[p.body_index]
    sev = {p.target or p.habit: 0.7} if fault else {p.habit: p.severity}
    out = []
    for i in range(start, start + n):
        seq = make_clip(ClipSpec(p.exercise, seed=p.seed, index=i, severity=sev, body=body,
                                 azimuth=p.azimuth)).sequences[0]
        out.append(play(Judge(models, p.exercise, JudgeConfig(), EVERY_MODEL), seq))
    return out


def false_cued(e, key: str | None = None) -> bool:
    """A cue on a correct rep (``rom`` from the measured depth aside: it is not a model's)."""
    failed = [k for k in e.failed if not (k == ROM and e.full_depth is False)]
    return bool(failed) if key is None else key in failed


def model_failed(e, key: str) -> bool:
    """The key failed by a model's probability (what personal thresholds can move), not by a
    measure."""
    recs = [c for c in e.conditions if c.get("key") == key and c.get("judged") and c.get("holds") is False]
    return bool(recs) and all(c.get("source") == "model" for c in recs)


def find_persons(models, args, rng) -> list[Person]:
    persons: list[Person] = []
    tried = 0
    while len(persons) < args.persons and tried < args.max_candidates:
        ex = args.exercises[tried % len(args.exercises)]
        keys = [c.key for c in EXERCISES[ex].conditions if c.key != ROM]
        p = Person(exercise=ex, habit=str(rng.choice(keys)), severity=float(rng.uniform(0.12, 0.24)),
                   body_index=int(rng.integers(0, 40)), azimuth=float(rng.choice([-60, -30, 0, 30, 60])),
                   seed=args.seed + tried)
        tried += 1
        reps = [e for c in clips(p, models, 0, 2) for e in c]
        if len(reps) < 5:
            continue
        counts = {}
        for e in reps:
            for k in e.failed:
                if false_cued(e, k) and model_failed(e, k):
                    counts[k] = counts.get(k, 0) + 1
        if not counts:
            continue
        target = max(counts, key=counts.get)
        rate = counts[target] / len(reps)
        if rate >= args.min_rate:
            p.target, p.probe_rate = target, rate
            persons.append(p)
            print(f"  person {len(persons)}: {ex}, habit {p.habit} {p.severity:.2f}, azimuth {p.azimuth:+.0f}, "
                  f"{target} falsely cued on {rate:.0%} of {len(reps)} probe reps", flush=True)
    print(f"  ({tried} candidates tried)\n", flush=True)
    return persons


def held_out(p: Person, test, faults, personal: PersonalThresholds) -> tuple[float, float, float]:
    """(reps with a false cue of the target, reps with any false cue, faulty reps caught)."""
    thr = personal.for_exercise(p.exercise)
    good = [apply_thresholds(e, thr) for c in test for e in c]
    bad = [apply_thresholds(e, thr) for c in faults for e in c]
    target = np.mean([false_cued(e, p.target) for e in good]) if good else float("nan")
    anyc = np.mean([false_cued(e) for e in good]) if good else float("nan")
    caught = np.mean([p.target in e.failed for e in bad]) if bad else float("nan")
    return float(target), float(anyc), float(caught)


def run_person(p: Person, models, args, tmp: Path) -> dict:
    train = clips(p, models, 100, args.train_clips)
    test = clips(p, models, 200, args.test_clips)
    faults = clips(p, models, 300, args.fault_clips, fault=True)
    settings = FitSettings(base_threshold=BASE, margin=args.margin, floor=args.floor)
    h = History(tmp / f"{p.exercise}-{p.seed}.sqlite3")
    pers = Personaliser(thresholds=PersonalThresholds())
    curve = [held_out(p, test, faults, pers.thresholds)]
    corrections = 0
    seen = 0
    for clip_events in train:
        for e in clip_events:
            shown = pers.process(e)
            h.add(shown)
            seen += 1
            if false_cued(shown):  # the person knows the rep was fine: "that was wrong"
                h.correct_last(False)
                corrections += 1
                pers.thresholds, _ = fit(list(h.reps()), settings, p.exercise)
                curve.append(held_out(p, test, faults, pers.thresholds))
    h.close()
    stop = next((i for i, c in enumerate(curve) if c[0] <= args.stopped), None)
    # how far apart the model puts this person's style and the real fault
    p_style = np.median([e.probs.get(p.target, np.nan) for c in test for e in c] or [np.nan])
    p_fault = np.median([e.probs.get(p.target, np.nan) for c in faults for e in c] or [np.nan])
    return {"person": p, "curve": curve, "p_style": float(p_style), "p_fault": float(p_fault), "corrections": corrections, "train_reps": seen,
            "stopped_after": stop, "final": curve[-1], "thresholds": pers.thresholds.for_exercise(p.exercise)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=4)
    ap.add_argument("--exercises", nargs="+", default=["squat", "deadlift"])
    ap.add_argument("--train-clips", type=int, default=4, help="clips (sets) the person corrects in")
    ap.add_argument("--test-clips", type=int, default=3, help="held-out clips of the same person")
    ap.add_argument("--fault-clips", type=int, default=2, help="held-out clips with a real fault")
    ap.add_argument("--margin", type=float, default=FitSettings.margin)
    ap.add_argument("--floor", type=float, default=FitSettings.floor)
    ap.add_argument("--min-rate", type=float, default=0.3, help="false-cue rate that makes a person")
    ap.add_argument("--stopped", type=float, default=0.1,
                    help="a false cue counts as stopped at or below this held-out rate")
    ap.add_argument("--max-candidates", type=int, default=30)
    ap.add_argument("--seed", type=int, default=500, help="persons' seeds (the shipped models: seed 1)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    models = ModelSet.from_predictors([Classifier(b) for b in load_default_bundles()
                                       if b.task == "conditions" and b.exercise in args.exercises])
    rng = np.random.default_rng(args.seed)
    print(f"finding persons the shipped models nag (threshold {BASE}, margin {args.margin}, "
          f"floor {args.floor}):", flush=True)
    persons = find_persons(models, args, rng)
    if not persons:
        print("no person with a false cue found; raise --max-candidates")
        return 1
    results = []
    with tempfile.TemporaryDirectory(prefix="formcheck-personal-") as tmp:
        for p in persons:
            results.append(run_person(p, models, args, Path(tmp)))

    print("| person | exercise | false cue | held-out false cue: before → after 1 / 2 / 3 corrections → end "
          "| corrections (train reps) | stopped after | any false cue (any source) before → end | real fault caught before → end "
          "| personal threshold | median P(holds): style / real fault |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(results, 1):
        p, c = r["person"], r["curve"]
        steps = " / ".join(f"{c[k][0]:.0%}" if k < len(c) else "–" for k in (1, 2, 3))
        stop = "never" if r["stopped_after"] is None else str(r["stopped_after"])
        thr = r["thresholds"].get(p.target, BASE)
        print(f"| {i} | {p.exercise} | {p.target} | {c[0][0]:.0%} → {steps} → {c[-1][0]:.0%} "
              f"| {r['corrections']} ({r['train_reps']}) | {stop} | {c[0][1]:.0%} → {c[-1][1]:.0%} "
              f"| {c[0][2]:.0%} → {c[-1][2]:.0%} | {BASE:g} → {thr:g} | {r['p_style']:.2f} / {r['p_fault']:.2f} |")
    stops = [r["stopped_after"] for r in results if r["stopped_after"] is not None]
    print(f"\nfalse cue stopped (held-out rate <= {args.stopped:.0%}) for {len(stops)}/{len(results)} persons; "
          f"median corrections {float(np.median(stops)) if stops else float('nan'):g}; "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
