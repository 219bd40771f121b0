"""A rep's verdict from its conditions: a pure function, no state.

``policy`` (``[judge] verdict``) says who decides: ``conditions`` (correct when every judged
condition holds), ``form`` (the form model decides; model conditions only name the cue of an
incorrect rep) or ``both`` (incorrect when either says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .conditions import ConditionVerdict

# Who decided a condition: a model's probability, a measured quantity against its threshold, or
# the rep counter's depth against the person's own typical range (which only catches partial
# reps, so it never confirms a rep correct on its own).
MODEL, MEASURE, DEPTH = "model", "measure", "depth"


@dataclass(frozen=True)
class FormScore:
    """A form model's P(correct) for the rep and the threshold it must reach."""

    p: float
    threshold: float

    @property
    def holds(self) -> bool:
        return self.p >= self.threshold


@dataclass
class Verdict:
    correct: bool | None  # None: nothing that can confirm form judged the rep
    score: float | None  # the form score, else the weakest judged model condition's P(true)
    failed: list[str] = field(default_factory=list)
    cues: list[str] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)
    probs: dict[str, float] = field(default_factory=dict)
    conditions: list[ConditionVerdict] = field(default_factory=list)


def uses_form(policy: str, has_conditions_model: bool) -> bool:
    """Whether the form model's score is wanted: always, unless the conditions decide and a
    conditions model exists."""
    return not (policy == "conditions" and has_conditions_model)


def verdict(conditions: list[ConditionVerdict], form: FormScore | None = None,
            policy: str = "conditions", confirm_sources: tuple[str, ...] = (MODEL,)) -> Verdict:
    """Correct/failed/cues of one rep.

    A key fails when any judged verdict of it fails (cue: the first failing one's); failed keys
    keep the order of ``conditions``. ``confirm_sources``: which sources can call a rep correct
    on their own (the depth check only ever catches partial reps).
    """
    form_failed = form is not None and not form.holds
    if policy == "form" and form is not None:
        conditions = _form_decides(conditions, form_failed)
    failed: list[str] = []
    cues: list[str] = []
    for c in conditions:
        if c.judged and c.holds is False and c.key not in failed:
            failed.append(c.key)
            cues.append(c.cue)
    judged_keys = {c.key for c in conditions if c.judged}
    not_judged = list(dict.fromkeys(c.key for c in conditions if c.key not in judged_keys))
    confirmed = form is not None or any(c.judged and c.source in confirm_sources for c in conditions)
    correct = False if (form_failed or failed) else (True if confirmed else None)
    model_p = [c for c in conditions if c.source == MODEL and c.p is not None]
    judged_p = [c.p for c in model_p if c.judged]  # an untrusted model's P(true) is only reported
    score = form.p if form is not None else (min(judged_p) if judged_p else None)
    probs = {"correct": round(form.p, 4)} if form is not None else {}
    probs.update({c.key: round(c.p, 4) for c in model_p})
    return Verdict(correct=correct, score=score, failed=failed, cues=cues, not_judged=not_judged,
                   probs=probs, conditions=list(conditions))


def _form_decides(conditions: list[ConditionVerdict], form_failed: bool) -> list[ConditionVerdict]:
    """Model conditions under the ``form`` policy: none fails on a rep the form model calls
    correct; on an incorrect one where none failed, the likeliest fault (lowest P) does."""
    model = [c for c in conditions if c.source == MODEL and c.judged and c.p is not None]
    if not model:
        return conditions
    if not form_failed:
        flip = {id(c): True for c in model}
    elif all(c.holds for c in model):
        lowest = min(c.p for c in model)
        flip = {id(c): False for c in model if c.p < lowest + 1e-9}
    else:
        return conditions
    return [replace(c, holds=flip[id(c)]) if id(c) in flip else c for c in conditions]


def rounded(c: ConditionVerdict, digits: int = 4) -> dict:
    """A condition as an event field: its record with numbers rounded for display."""
    d = c.to_dict()
    for k in ("value", "p", "threshold"):
        if isinstance(d[k], float):
            d[k] = round(d[k], digits)
    return d
