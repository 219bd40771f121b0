"""Rep verdicts on people the models never saw: how often the station is right, per policy.

Plays labelled clips (by default a fresh synthetic set whose seed differs from the shipped
models' training data: new bodies, cameras and faults) through the real judge with the
exercise given, once per clip; every rep event carries the models' probabilities
(``RepEvent.probs``), so each verdict policy (``judge.verdict`` × ``judge.condition_threshold``)
is scored from the same run:

- *good reps passed*: correct reps judged correct (a coach who nags on good reps is ignored),
- *faulty reps caught*: reps with a fault judged incorrect,
- *balanced*: the mean of the two,
- *cues right*: shown cues that name a condition the rep really failed.

    python bench/verdicts.py                       # shipped bundles, 12 fresh clips per exercise
    python bench/verdicts.py --models DIR --data DIR --clips 30

Real clips have no condition labels here, so this is synthetic only; rep counts are printed too
(the clip's labelled reps vs the judge's). The policies above rescore the models' probabilities
alone; the *station* table is the judge as the station builds it (``--config``: its TOML, default
the packaged one): measures, which models it trusts (``conditions.model_decides``) and what it
leaves unjudged, scored from each rep event's own verdict.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from formcheck.device.app.config import load as load_config
from formcheck.device.app.config import loads, packaged_default_text
from formcheck.device.events import RepEvent
from formcheck.device.exercises import EXERCISE_IDS, EXERCISES, ROM
from formcheck.device.judging.bundle import load_bundles, load_default_bundles
from formcheck.device.judging.classifier import Classifier
from formcheck.device.judging.conditions import ConditionConfig
from formcheck.device.judging.judge import Judge, JudgeConfig, ModelSet
from formcheck.device.pose.landmarks import Pose
from formcheck.device.sequences import iter_dataset

POLICIES = [("conditions", 0.5), ("conditions", 0.35), ("conditions", 0.25),
            ("form", 0.5), ("form", 0.35), ("both", 0.35)]


def make_data(out: Path, clips: int, seed: int) -> Path:
    from formcheck.train.synth.cli import main as synth

    synth(["-o", str(out), "--clips-per-exercise", str(clips), "--idle-clips", "0", "--seed", str(seed),
           "--no-progress"])
    return out


def play(judge: Judge, seq) -> list[RepEvent]:
    events = []
    for t, lm in zip(seq.t, seq.landmarks, strict=True):
        ok = np.isfinite(lm[:, :2]).all(axis=1).any()
        events += judge.update(Pose(t=float(t), landmarks=lm if ok else None, image_size=seq.image_size,
                                    score=0.9 if ok else 0.0))
    events += judge.finish()
    return [e for e in events if isinstance(e, RepEvent)]


def verdict_of(e: RepEvent, keys: list[str], verdict: str, thr: float) -> tuple[bool, list[str]]:
    """(correct, failed) of a rep under a policy, from the probabilities the event carries."""
    cond = {k: p for k, p in e.probs.items() if k != "correct"}
    failed = [k for k in keys if k in cond and cond[k] < thr]
    if e.full_depth is False and ROM not in failed:
        failed.append(ROM)
    form = e.probs.get("correct")
    if verdict == "conditions" or form is None:
        return not failed, failed
    form_bad = form < 0.5
    if verdict == "both":
        return not (form_bad or failed), failed
    if not form_bad:  # "form": the form model decides; only the measured depth still fails a rep
        failed = [ROM] if e.full_depth is False else []
        return not failed, failed
    if not failed and cond:
        failed = [min(cond, key=cond.get)]
    return False, failed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, help="bundle folder (default: the shipped bundles)")
    ap.add_argument("--data", type=Path, help="labelled synthetic dataset (default: generate a fresh one)")
    ap.add_argument("--clips", type=int, default=12, help="clips per exercise to generate (default 12)")
    ap.add_argument("--seed", type=int, default=99, help="seed of the generated set (default 99; "
                    "the shipped models were trained on seed 1)")
    ap.add_argument("--config", type=Path, help="station config for the station table (default: packaged)")
    args = ap.parse_args(argv)
    station = load_config(args.config) if args.config else loads(packaged_default_text())
    # the policies rescore every model's probabilities: each model decides where no measure does
    every_model = ConditionConfig().trusting_every_model()

    bundles = load_bundles(args.models) if args.models else load_default_bundles()
    models = ModelSet.from_predictors([Classifier(b) for b in bundles if b.task != "exercise"])
    tmp = None
    data = args.data
    if data is None:
        tmp = tempfile.TemporaryDirectory(prefix="formcheck-verdicts-")
        data = make_data(Path(tmp.name) / "data", args.clips, args.seed)

    rows = []  # (exercise, truth {key: bool}, event)
    station_rows = []  # (exercise, truth, event) from the judge as the station builds it
    counted = defaultdict(lambda: [0, 0, 0])  # exercise -> [clips, exact, |error| sum]
    for seq in iter_dataset(data):
        if seq.exercise not in EXERCISE_IDS or not seq.condition_values:
            continue
        cfg = JudgeConfig(verdict="both", condition_threshold=0.5)
        events = play(Judge(models, seq.exercise, cfg, every_model), seq)
        c = counted[seq.exercise]
        c[0] += 1
        c[1] += len(events) == len(seq.reps)
        c[2] += abs(len(events) - len(seq.reps))
        key_of = {c.name: c.key for c in EXERCISES[seq.exercise].conditions}
        truth = {key_of.get(n, n): v for n, v in zip(seq.conditions, seq.condition_values, strict=True)}
        keys = list(truth)
        rows += [(seq.exercise, truth, keys, e) for e in events]
        station_rows += [(seq.exercise, truth, e) for e in
                         play(Judge(models, seq.exercise, station.judge, station.conditions), seq)]
    if tmp is not None:
        tmp.cleanup()

    print(f"{len(rows)} reps of {sum(c[0] for c in counted.values())} clips; rep counts exact in "
          f"{sum(c[1] for c in counted.values())} clips, mean |error| "
          f"{sum(c[2] for c in counted.values()) / max(1, sum(c[0] for c in counted.values())):.2f} reps")
    print()
    print("| verdict | threshold | good reps passed | faulty reps caught | balanced | cues right |")
    print("|---|---|---|---|---|---|")
    for verdict, thr in POLICIES:
        if verdict != "conditions" and not any("correct" in e.probs for *_, e in rows):
            continue
        s = score(rows, verdict, thr)
        tnr, tpr = s.passed, s.caught
        print(f"| {verdict} | {thr:g} | {tnr:.0%} | {tpr:.0%} | {(tnr + tpr) / 2:.0%} | "
              f"{s.cue_ok / max(s.cue_n, 1):.0%} |")
    print()
    print_per_exercise(rows, JudgeConfig().verdict, JudgeConfig().condition_threshold)
    print()
    print_station(station_rows, args.config or "packaged config")
    return 0


def print_station(rows, name) -> None:
    """Each rep event's own verdict: false alarms on good reps, faulty reps caught, reps left
    unjudged (correct None: nothing that can confirm form judged them), cues naming a real fault."""
    print(f"Station ({name}): the rep events' own verdicts")
    print()
    print("| exercise | good reps | false alarms | unjudged | faulty reps | caught | unjudged | cues right "
          "| most cued condition on good reps |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ex in [*sorted({r[0] for r in rows}), "all"]:
        sel = [r for r in rows if ex in ("all", r[0])]
        good = [e for _, truth, e in sel if all(truth.values())]
        bad = [e for _, truth, e in sel if not all(truth.values())]
        cues = [(truth, k) for _, truth, e in sel for k in e.failed]
        nag: dict[str, int] = {}
        for e in good:
            for k in e.failed:
                nag[k] = nag.get(k, 0) + 1
        top = max(nag, key=nag.get) if nag else None

        def share(es, v):
            return sum(e.correct is v for e in es) / max(len(es), 1)

        print(f"| {ex} | {len(good)} | {share(good, False):.0%} | {share(good, None):.0%} | {len(bad)} | "
              f"{share(bad, False):.0%} | {share(bad, None):.0%} | "
              f"{sum(t.get(k) is False for t, k in cues) / max(len(cues), 1):.0%} | "
              f"{f'{top} ({nag[top]})' if top else '—'} |")


@dataclass
class Score:
    """How a verdict policy did on a set of reps."""

    good_n: int = 0  # correct reps
    good_ok: int = 0  # ... judged correct
    bad_n: int = 0  # reps with a fault
    bad_ok: int = 0  # ... judged incorrect
    cue_n: int = 0  # cues shown
    cue_ok: int = 0  # ... naming a condition the rep really failed
    nag: dict = field(default_factory=dict)  # condition -> times cued on correct reps

    @property
    def passed(self) -> float:
        return self.good_ok / max(self.good_n, 1)

    @property
    def caught(self) -> float:
        return self.bad_ok / max(self.bad_n, 1)


def score(rows, verdict: str, thr: float) -> Score:
    """Score ``rows`` ``(exercise, truth, keys, event)`` under one verdict policy."""
    s = Score()
    for _ex, truth, keys, e in rows:
        correct, failed = verdict_of(e, keys, verdict, thr)
        if all(truth.values()):
            s.good_n += 1
            s.good_ok += correct
            for k in failed:
                s.nag[k] = s.nag.get(k, 0) + 1
        else:
            s.bad_n += 1
            s.bad_ok += not correct
        s.cue_n += len(failed)
        s.cue_ok += sum(truth.get(k) is False for k in failed)
    return s


def print_per_exercise(rows, verdict: str, thr: float) -> None:
    """The default policy per exercise: where the nagging and the misses are."""
    print(f"Per exercise, default policy ({verdict}, threshold {thr:g}):")
    print()
    print("| exercise | good reps | passed | faulty reps | caught | most cued condition on good reps |")
    print("|---|---|---|---|---|---|")
    for ex in sorted({r[0] for r in rows}):
        s = score([r for r in rows if r[0] == ex], verdict, thr)
        top = max(s.nag, key=s.nag.get) if s.nag else "—"
        top = f"{top} ({s.nag[top]})" if s.nag else top
        print(f"| {ex} | {s.good_n} | {s.passed:.0%} | {s.bad_n} | {s.caught:.0%} | {top} |")


if __name__ == "__main__":
    raise SystemExit(main())
