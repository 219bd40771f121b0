"""``formcheck-train personal``: one person's corrected and confirmed reps into personal thresholds.

Each condition's decision threshold on the model's P(holds) moves, per exercise, to the value
that best agrees with what the person said about their reps, never past a floor and ceiling;
conditions nobody said anything about keep the station's threshold. Thresholds, not retrained
models: see docs/voice-and-history.md for why (measured).
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from formcheck.device.exercises import EXERCISE_IDS
from formcheck.device.judging.personal import PersonalThresholds
from formcheck.device.outputs.history import History, HistorySettings, default_db_path, default_state_dir

PERSONAL_NAME = "personal.json"


@dataclass(frozen=True)
class FitSettings:
    # The threshold the station judged with (judge.condition_threshold), where each starts.
    base_threshold: float = 0.35
    # A threshold is put this far past the reps the person labelled: the same style varies
    # from rep to rep, and a threshold right at the last rep's probability would cue the next.
    margin: float = 0.05
    # Never lower than this: a fault the model is this sure of is always cued, whatever was said
    # (chosen with bench/personal.py; figures in docs/voice-and-history.md).
    floor: float = 0.15
    # Never higher than this: a person cannot make the station cue every rep.
    ceiling: float = 0.8

    def __post_init__(self):
        if not 0 <= self.floor <= self.base_threshold <= self.ceiling <= 1:
            raise ValueError("personal: need 0 <= floor <= base_threshold <= ceiling <= 1")
        if not 0 <= self.margin < 0.5:
            raise ValueError(f"personal: margin must be within 0..0.5, got {self.margin}")


def rep_labels(row: dict) -> dict[str, bool]:
    """What the person's correction says about each condition of a history row.

    Explicit labels win. "Verdict right" confirms every judged condition as decided. "Verdict
    wrong" on a bad rep says every condition held (the cues were false); on a good rep it says
    some fault was missed but not which, so it labels nothing unless the labels name it.
    """
    if row.get("verdict_ok") is None:
        return {}
    conds = [k for k in (row.get("probs") or {}) if k != "correct"]
    if row.get("labels"):
        return {k: bool(v) for k, v in row["labels"].items()}
    failed = set(row.get("failed") or ())
    if row["verdict_ok"]:
        return {k: k not in failed for k in conds}
    if row.get("correct") is False:
        return dict.fromkeys(conds, True)
    return {}


def fit_condition(samples: list[tuple[float, bool]], s: FitSettings) -> float:
    """The threshold (a condition fails when P(holds) < it) that disagrees with the fewest
    labels, then keeps the most of them ``margin`` away; ties go to the one nearest the base."""
    if not samples:
        return s.base_threshold
    cands = {s.base_threshold}
    for p, holds in samples:
        cands.add(p - s.margin if holds else p + s.margin)
    cands = {min(max(c, s.floor), s.ceiling) for c in cands}

    def cost(t: float) -> tuple[int, int, float]:
        # the labels t disagrees with; then those within the margin of t (a rep of the same
        # style a little further out would be missed); then the distance from the base
        m = s.margin - 1e-9
        wrong = sum((p < t) if holds else (p >= t) for p, holds in samples)
        close = sum((p < t + m) if holds else (p >= t - m) for p, holds in samples)
        return wrong, close, abs(t - s.base_threshold)

    return round(min(cands, key=cost), 4)


def collect(rows, exercise: str | None = None) -> dict[str, dict[str, list[tuple[float, bool]]]]:
    """``{exercise: {condition: [(P(holds), holds), ...]}}`` from corrected/confirmed rows."""
    out: dict[str, dict[str, list[tuple[float, bool]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if exercise and row["exercise"] != exercise:
            continue
        probs = row.get("probs") or {}
        for key, holds in rep_labels(row).items():
            p = probs.get(key)
            if p is not None:
                out[row["exercise"]][key].append((float(p), bool(holds)))
    return out


def fit(rows, s: FitSettings, exercise: str | None = None) -> tuple[PersonalThresholds, list[dict]]:
    """Personal thresholds from history rows, and a report row per condition that moved or had labels."""
    data = collect(rows, exercise)
    thresholds: dict[str, dict[str, float]] = {}
    report = []
    for ex in sorted(data):
        for key in sorted(data[ex]):
            samples = data[ex][key]
            thr = fit_condition(samples, s)
            before = sum((p < s.base_threshold) != (not h) for p, h in samples)
            after = sum((p < thr) != (not h) for p, h in samples)
            report.append({"exercise": ex, "condition": key, "labels": len(samples),
                           "holds": sum(h for _, h in samples), "base": s.base_threshold, "personal": thr,
                           "disagree_before": before, "disagree_after": after})
            if thr != s.base_threshold:
                thresholds.setdefault(ex, {})[key] = thr
    meta = {"fitted": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "base_threshold": s.base_threshold,
            "margin": s.margin, "floor": s.floor, "ceiling": s.ceiling,
            "labelled_reps": sum(1 for r in rows if r.get("verdict_ok") is not None)}
    return PersonalThresholds(thresholds, meta), report


# ---- command line ---------------------------------------------------------------------------

def add_parser(sub) -> None:
    p = sub.add_parser(
        "personal", help="personal thresholds from the corrections in a station's rep history",
        description="Fit per-condition thresholds to one person's corrected and confirmed reps "
                    "(formcheck-history correct, the button's double press) and write them where the "
                    "station reads them; `systemctl reload formcheck` applies them without a restart.")
    p.add_argument("--history", type=Path, default=None, metavar="DB",
                   help=f"the rep history (default: {default_db_path()})")
    p.add_argument("--exercise", choices=[*EXERCISE_IDS, "all"], default="all")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help=f"thresholds file (default: {default_state_dir() / PERSONAL_NAME})")
    p.add_argument("--base-threshold", type=float, default=None,
                   help="the station's judge.condition_threshold (default: from --config, else 0.35)")
    p.add_argument("--config", type=Path, help="the station's config file, for its condition threshold")
    p.add_argument("--margin", type=float, default=FitSettings.margin,
                   help=f"distance kept from the labelled reps' probabilities (default {FitSettings.margin})")
    p.add_argument("--floor", type=float, default=FitSettings.floor,
                   help=f"lowest threshold a condition may get (default {FitSettings.floor})")
    p.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    p.set_defaults(func=cmd_personal)


def cmd_personal(args) -> int:
    db = args.history or default_db_path()
    if not Path(db).is_file():
        print(f"formcheck-train personal: no rep history at {db}", file=sys.stderr)
        return 2
    base = args.base_threshold
    if base is None and args.config:
        from formcheck.device.app import config as C

        base = C.load(args.config).judge.condition_threshold or 0.5
    s = FitSettings(base_threshold=0.35 if base is None else base, margin=args.margin, floor=args.floor)
    with History(db, HistorySettings(check_on_open=False)) as h:
        rows = list(h.reps())
    ex = None if args.exercise == "all" else args.exercise
    personal, report = fit(rows, s, ex)
    labelled = personal.meta["labelled_reps"]
    print(f"{labelled} corrected or confirmed reps in {db}")
    if report:
        print(f"{'exercise':<15} {'condition':<18} {'labels':>6} {'held':>5} {'threshold':>17} {'disagree':>11}")
        for r in report:
            print(f"{r['exercise']:<15} {r['condition']:<18} {r['labels']:>6} {r['holds']:>5} "
                  f"{r['base']:>7.3f} -> {r['personal']:<6.3f} {r['disagree_before']:>4} -> {r['disagree_after']:<4}")
    out = args.out or default_state_dir() / PERSONAL_NAME
    if ex is not None and Path(out).is_file():
        # one exercise refitted: the others' thresholds stay
        old = PersonalThresholds.load(out).thresholds
        merged = {k: v for k, v in old.items() if k != ex} | personal.thresholds
        personal = PersonalThresholds(merged, personal.meta)
    if args.dry_run:
        print(json.dumps(personal.to_dict(), indent=1))
        return 0
    personal.save(out)
    print(f"written {out}; apply it with `systemctl reload formcheck` (or restart the station)")
    return 0
