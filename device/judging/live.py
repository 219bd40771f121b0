"""The live form verdict between reps: sliding-window scores smoothed over time, with
hysteresis, for displays that show form while a person moves."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ema import Ema
from .model_bank import Predictor, condition_fields, correct_index


@dataclass
class LiveVerdict:
    """The smoothed sliding-window verdict (None until a sliding model spoke)."""

    score: float | None = None
    correct: bool | None = None
    failed: list[str] = field(default_factory=list)


class LiveScore:
    """Each model's windows averaged over ``smoothing_s``; a model's verdict flips only past
    its threshold +- ``hysteresis``."""

    def __init__(self, form: Predictor | None, conditions: Predictor | None, smoothing_s: float,
                 hysteresis: float):
        self.form = form
        self.conditions = conditions
        self.hysteresis = hysteresis
        self._emas = {id(m): Ema(smoothing_s) for m in (form, conditions) if m is not None}
        self._ok: dict[int, np.ndarray] = {}
        self.verdict = LiveVerdict()

    def update(self, m: Predictor, t: float, p: np.ndarray) -> None:
        if id(m) not in self._emas:
            return
        ema = self._emas[id(m)].update(t, p)
        thr = float(getattr(m.bundle, "threshold", 0.5))
        prev = self._ok.get(id(m))
        h = self.hysteresis
        self._ok[id(m)] = ema >= thr if prev is None else np.where(prev, ema > thr - h, ema >= thr + h)
        live = LiveVerdict()
        form, conds = self.form, self.conditions
        if form is not None and id(form) in self._ok:
            live.score = float(self._emas[id(form)].value[correct_index(form)])
            live.correct = bool(self._ok[id(form)][correct_index(form)])
        if conds is not None and id(conds) in self._ok:
            keys = [condition_fields(c)[0] for c in conds.bundle.conditions]
            live.failed = [k for k, good in zip(keys, self._ok[id(conds)], strict=False) if not good]
            if live.correct is None:
                live.correct = not live.failed
            elif live.failed:
                live.correct = False
        self.verdict = live
