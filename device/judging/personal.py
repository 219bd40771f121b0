"""Personal thresholds: one person's corrections turned into per-condition decision thresholds.

``formcheck-train personal`` writes them (a small JSON file); the station applies them to each
rep event after the judge (pure: the models' probabilities are on the event), and reloads the
file on SIGHUP. A condition without a personal threshold keeps the judge's decision.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..events import Event, ExerciseEvent, RepEvent, ResetEvent
from ..exercises import EXERCISES, ROM, cue_for

log = logging.getLogger(__name__)

FORMAT = "formcheck-personal-thresholds"
VERSION = 1


@dataclass(frozen=True)
class PersonalThresholds:
    """``thresholds[exercise][condition]``: the condition fails when P(holds) < the value."""

    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # what it was fitted from (reps, corrections, time)

    def for_exercise(self, exercise: str) -> dict[str, float]:
        return self.thresholds.get(exercise, {})

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "thresholds": self.thresholds, "meta": self.meta}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)  # a reload never sees half a file
        return path

    @classmethod
    def from_dict(cls, d: dict, source: str = "personal thresholds") -> PersonalThresholds:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{source}: not a personal thresholds file (format {FORMAT!r} expected)")
        if int(d.get("version", 0)) > VERSION:
            raise ValueError(f"{source}: version {d.get('version')} is newer than this formcheck reads ({VERSION})")
        out: dict[str, dict[str, float]] = {}
        for ex, conds in (d.get("thresholds") or {}).items():
            if ex not in EXERCISES:
                raise ValueError(f"{source}: thresholds.{ex}: unknown exercise")
            keys = {c.key for c in EXERCISES[ex].conditions}
            for key, v in conds.items():
                if key not in keys:
                    raise ValueError(f"{source}: thresholds.{ex}.{key}: {ex} has no such condition")
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                    raise ValueError(f"{source}: thresholds.{ex}.{key}: expected a number 0..1, got {v!r}")
                out.setdefault(ex, {})[key] = float(v)
        return cls(out, dict(d.get("meta") or {}))

    @classmethod
    def load(cls, path: str | Path) -> PersonalThresholds:
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(d, str(path))


def apply_thresholds(event: RepEvent, thresholds: dict[str, float]) -> RepEvent:
    """The rep's verdict re-decided with personal thresholds (counts are left to the caller).

    Only model decisions move: a condition with a personal threshold and a model probability
    on the event. A key that something else failed (a measure, e.g. ``rom`` from the measured
    depth) stays failed whatever the model says. With the judge's per-condition records on the
    event they are updated too; without them, ``full_depth`` stands for the depth measure.
    """
    if not thresholds or event.correct is None:
        return event
    records = [c for c in (getattr(event, "conditions", None) or []) if isinstance(c, dict)]
    if records:
        new_records = []
        for c in records:
            thr = thresholds.get(c.get("key"))
            if thr is not None and c.get("source", "model") == "model" and c.get("judged") and \
                    isinstance(c.get("p"), int | float) and math.isfinite(c["p"]):
                c = {**c, "holds": c["p"] >= thr, "threshold": thr}
            new_records.append(c)
        failed: list[str] = []
        cue_of: dict[str, str] = {}
        for c in new_records:
            if c.get("judged") and c.get("holds") is False and c["key"] not in failed:
                failed.append(c["key"])
                cue_of[c["key"]] = c.get("cue") or cue_for(event.exercise, c["key"])
    else:
        new_records = None
        failed = list(event.failed)
        cue_of = dict(zip(event.failed, event.cues, strict=False))
        for key, thr in thresholds.items():
            p = event.probs.get(key)
            if p is None or not math.isfinite(p):
                continue
            fails = p < thr or (key == ROM and event.full_depth is False)
            if fails and key not in failed:
                failed.append(key)
            elif not fails and key in failed:
                failed.remove(key)
    if failed == list(event.failed):
        return event
    cues = [cue_of.get(k) or cue_for(event.exercise, k) for k in failed]
    # an incorrect verdict no condition explains came from the form model: it stands
    form_failed = event.probs.get("correct", 1.0) < 0.5 or (event.correct is False and not event.failed)
    out = replace(event, failed=failed, cues=cues, correct=not failed and not form_failed)
    if new_records is not None:
        out.conditions = new_records
    return out



class Personaliser:
    """Applies personal thresholds to the judge's events, keeping the set's good/bad counts
    consistent with the re-decided verdicts. ``reload()`` swaps the file in between two reps."""

    def __init__(self, path: str | Path | None = None, thresholds: PersonalThresholds | None = None):
        self.path = Path(path) if path else None
        self.thresholds = thresholds or PersonalThresholds()
        self._delta_good = self._delta_bad = 0  # adjustments within the current set
        if thresholds is None and self.path is not None:
            self.reload()

    def reload(self) -> bool:
        """Re-read the file (absent: no personal thresholds). A bad file keeps the previous ones."""
        if self.path is None:
            return False
        if not self.path.is_file():
            self.thresholds = PersonalThresholds()
            return True
        try:
            self.thresholds = PersonalThresholds.load(self.path)
        except (OSError, ValueError) as e:
            log.error("personal thresholds not reloaded, keeping the previous ones: %s", e)
            return False
        n = sum(len(v) for v in self.thresholds.thresholds.values())
        log.info("personal thresholds: %d condition(s) from %s", n, self.path)
        return True

    def process(self, event: Event) -> Event:
        if isinstance(event, ExerciseEvent | ResetEvent):
            self._delta_good = self._delta_bad = 0
            return event
        if not isinstance(event, RepEvent):
            return event
        if event.rep <= 1:
            self._delta_good = self._delta_bad = 0
        new = apply_thresholds(event, self.thresholds.for_exercise(event.exercise))
        if new is not event and new.correct != event.correct:
            step = 1 if new.correct else -1
            self._delta_good += step
            self._delta_bad -= step
        if self._delta_good or self._delta_bad:
            if new is event:
                new = replace(event)
            new.good = event.good + self._delta_good
            new.bad = event.bad + self._delta_bad
        return new
