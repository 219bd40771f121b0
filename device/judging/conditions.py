"""What the judge says about one condition of one rep: the record every verdict is built from."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ConditionVerdict:
    """One condition (an AI-Hub condition key or ``rom``) of one rep.

    ``judged`` is False when this rep's view or visible joints cannot observe the condition;
    then ``holds`` is None and ``reason`` says why ("side view cannot see knees caving in",
    "ankles not visible"). ``value`` is the measured quantity in the unit its definition names,
    ``p`` a model's P(condition holds) where a model spoke. ``cue`` is what the person is told
    when it fails, saying what was measured.
    """

    key: str
    judged: bool
    holds: bool | None
    value: float | None = None
    threshold: float | None = None
    p: float | None = None
    source: str = ""  # "measure" or "model": what decided
    cue: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)
