"""What the judge says about one condition of one rep: the record every verdict is built from."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from types import MappingProxyType

import numpy as np

from ..checks import Bad, check_fields, number, setting, show
from ..errors import ConfigError
from ..exercises import EXERCISES
from . import measures as M
from .features import aspect_corrected
from .reps import body_scale
from .view import UNKNOWN, estimate_view

# An unjudged condition that this rep's view or visible joints cannot observe: no model may
# guess it either (a model sees the same pose and would only be guessing).
UNSEEN = "unseen"


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
    source: str = ""  # what decided ("measure", "model", "depth"); UNSEEN when nothing may
    cue: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


# ---- measured conditions ------------------------------------------------------------------------

# Every threshold, by its config key ("<exercise>.<name>", as in the station's TOML
# ``[conditions]`` table). Units and reasons: docs/conditions.md.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "squat.depth": 35.0,
    "squat.depth_front": 50.0,
    "squat.depth_oblique": 45.0,
    "squat.knee_valgus": 0.25,
    "squat.heel_rise": 0.25,
    "deadlift.lockout": 15.0,
    "deadlift.heel_rise": 0.2,
    "deadlift.heel_side_within": 15.0,
    "deadlift.knee_valgus": 0.11,
    "deadlift.bar_distance": 0.6,
    "deadlift.knee_lead": 0.11,
    "barbell_curl.top": 25.0,
    "barbell_curl.elbow_travel": 0.45,
    "barbell_curl.trunk_swing": 10.0,
    "barbell_curl.shrug": 0.08,
    "overhead_press.lockout": 0.7,
    "overhead_press.leg_dip": 0.03,
    "overhead_press.lean_back": 10.0,
    "overhead_press.shrug": 0.1,
    "overhead_press.forearm_tilt": 25.0,
    "side_raise.top": -20.0,
    "side_raise.shrug": 0.09,
    "side_raise.elbow_change": 15.0,
    "side_raise.leg_dip": 0.04,
    "side_raise.trunk_swing": 15.0,
    "knee_up.lift": -20.0,
    "leg_raise.top": 70.0,
    "leg_raise.knee_change": 20.0,
    "leg_raise.pelvis_lift": 0.1,
    "side_lunge.knee_min": 50.0,
    "side_lunge.knee_max": 115.0,
    "side_lunge.other_knee": 15.0,
    "side_crunch.gap": 0.5,
    "side_crunch.side_bend": 15.0,
    "side_crunch.wrist_drop": 0.1,
}

# Conditions whose measure decides, both ways (``exercise.key``), and those whose measure can
# only fail them: a measured trunk swing breaks "keep your back neutral", but no swing does not
# prove a neutral spine. The others are measured and reported but left to a model. Chosen per
# condition by measurement (docs/conditions.md).
DEFAULT_MEASURED: frozenset[str] = frozenset({
    "squat.rom", "squat.knees_in_line",
    "deadlift.rom", "deadlift.feet_flat",
    "barbell_curl.rom", "overhead_press.rom", "overhead_press.no_leg_drive",
    "side_raise.rom", "side_raise.elbow_angle_fixed", "side_raise.no_knee_bounce",
    "knee_up.rom", "knee_up.knee_high", "leg_raise.rom", "leg_raise.knee_angle_fixed", "side_lunge.other_leg",
    "side_crunch.hands_behind_head",
})
DEFAULT_FAIL_ONLY: frozenset[str] = frozenset({
    "barbell_curl.elbows_still", "barbell_curl.back_neutral", "overhead_press.back_neutral",
    "side_raise.no_torso_swing", "squat.heels_down",
    # the pelvis leaving the mat fails it; the lower back arching while the legs come down does
    # not lift the pelvis, so no lift does not prove the back stayed down
    "leg_raise.lower_back_down",
})

# Conditions BlazePose's landmarks cannot observe beyond what a fail-only measure catches: no
# model may guess the rest (it sees the same points). Reasons in docs/conditions.md.
DEFAULT_UNSEEN: frozenset[str] = frozenset({
    # the shoulder point moves with the upper arm: a shrug cannot be told from the lift
    "barbell_curl.no_shrug", "side_raise.no_shrug", "overhead_press.shoulders_set",
    # no landmark lies along the spine: only a trunk swing or lean can be seen, not rounding
    "barbell_curl.back_neutral", "overhead_press.back_neutral",
})
# Conditions a conditions model may decide (where no measure does). Empty: no shipped model has
# beaten chance on real people's labels with few false alarms (docs/conditions.md, "Decisions");
# a model not listed is reported (its P(true)) but judges nothing.
DEFAULT_MODEL_DECIDES: frozenset[str] = frozenset()
UNTRUSTED_REASON = ("its model is not validated on real people (not in conditions.model_decides): "
                    "P(true) reported, nothing judged")
# Every ``exercise.condition`` id, measured or not.
CONDITION_IDS: frozenset[str] = frozenset(f"{e}.{c.key}" for e, x in EXERCISES.items() for c in x.conditions)
UNSEEN_REASON = {
    "no_shrug": "the shoulder point moves with the upper arm: a shrug cannot be told from the lift",
    "shoulders_set": "the shoulder point moves with the upper arm: a shrug cannot be told from the lift",
    "back_neutral": "no landmark lies along the spine: only a trunk swing can be seen, and there was none",
}


def _ids_in(known, what: str):
    """A setting check: a list of ``exercise.condition`` ids from ``known`` (a sorted tuple);
    ``what`` names them in the error (" with a measure")."""
    def check(v):
        if isinstance(v, str) or not isinstance(v, list | tuple | set | frozenset):
            raise Bad("a list of exercise.condition ids")
        bad = [x for x in v if not isinstance(x, str) or x not in known]
        if bad:
            raise Bad(f"exercise.condition ids{what} (unknown: {', '.join(map(show, bad))})")
        return tuple(sorted(set(v)))

    return check


_condition_ids = _ids_in(M.BY_ID, " with a measure")
_any_condition_ids = _ids_in(CONDITION_IDS, "")


def _thresholds(exercise: str):
    """One exercise's thresholds: a table of known names to numbers, merged over the defaults."""
    names = {k.split(".", 1)[1]: v for k, v in DEFAULT_THRESHOLDS.items() if k.startswith(exercise + ".")}

    def check(v):
        if not isinstance(v, Mapping):
            raise Bad(f"a table of {', '.join(names)}")
        unknown = [k for k in v if k not in names]
        if unknown:
            raise Bad(f"a table of {', '.join(names)} (unknown: {', '.join(unknown)})")
        out = dict(names)
        for k, x in v.items():
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                raise Bad(f"finite numbers ({k} = {show(x)})")
            out[k] = float(x)
        return MappingProxyType(out)

    return names, check


def _table(exercise: str):
    names, check = _thresholds(exercise)
    return setting(dict(names), check)


@dataclass(frozen=True, eq=True)
class ConditionConfig:
    """The ``[conditions]`` section: gates, which measures decide, and every threshold.

    A landmark counts when finite, at least ``edge_margin`` inside the frame and at least
    ``min_visibility``; a side of the body counts when its joints do on ``min_coverage`` of the
    rep's frames. A rep is one arm's (alternating dumbbells) when the other wrist travels less
    than ``one_arm_share`` of the working wrist's travel: arm conditions then read that arm.
    ``measured`` lists the ``exercise.condition`` ids whose measure decides,
    ``fail_only`` those whose measure can fail the condition but not pass it, ``unseen`` those
    the landmarks cannot observe beyond their measure (no model judges them), ``model_decides``
    those a conditions model may decide where no measure does (it was validated on real
    people; any other model condition is reported but not judged). One table per
    exercise holds its thresholds (``squat.depth = 35``); reasons in docs/conditions.md.
    """

    min_visibility: float = setting(0.5, number(0.0, 1.0))
    min_coverage: float = setting(0.6, number(0.0, 1.0, lo_open=True))
    edge_margin: float = setting(0.03, number(0.0, 0.5))
    one_arm_share: float = setting(0.4, number(0.0, 1.0))
    measured: tuple[str, ...] = setting(tuple(sorted(DEFAULT_MEASURED)), _condition_ids)
    fail_only: tuple[str, ...] = setting(tuple(sorted(DEFAULT_FAIL_ONLY)), _condition_ids)
    unseen: tuple[str, ...] = setting(tuple(sorted(DEFAULT_UNSEEN)), _condition_ids)
    model_decides: tuple[str, ...] = setting(tuple(sorted(DEFAULT_MODEL_DECIDES)), _any_condition_ids)
    squat: Mapping[str, float] = _table("squat")
    deadlift: Mapping[str, float] = _table("deadlift")
    barbell_curl: Mapping[str, float] = _table("barbell_curl")
    overhead_press: Mapping[str, float] = _table("overhead_press")
    side_raise: Mapping[str, float] = _table("side_raise")
    knee_up: Mapping[str, float] = _table("knee_up")
    leg_raise: Mapping[str, float] = _table("leg_raise")
    side_lunge: Mapping[str, float] = _table("side_lunge")
    side_crunch: Mapping[str, float] = _table("side_crunch")

    def __post_init__(self):
        problems = check_fields(self, "conditions")
        both = set(self.measured) & set(self.fail_only)
        if both:
            problems.append(f"conditions.fail_only: already in conditions.measured: {', '.join(sorted(both))}")
        for name in ("measured", "unseen"):
            clash = set(self.model_decides) & set(getattr(self, name))
            if clash:
                problems.append(f"conditions.model_decides: not model-decided (in conditions.{name}): "
                                f"{', '.join(sorted(clash))}")
        if problems:
            raise ConfigError(problems)

    __hash__ = None  # type: ignore[assignment]  # threshold tables are mappings

    @classmethod
    def from_dict(cls, d: Mapping | None) -> ConditionConfig:
        """From a ``[conditions]`` table as TOML parses it (``squat.depth = 35`` is a nested
        table) or with flat dotted keys (``{"squat.depth": 35}``)."""
        if not d:
            return cls()
        kw: dict = {}
        problems = []
        for k, v in d.items():
            ex, dot, name = str(k).partition(".")
            if dot:
                kw.setdefault(ex, {})[name] = v
            elif isinstance(v, Mapping):
                kw.setdefault(k, {}).update(v)
            else:
                kw[k] = v
        known = {f.name for f in fields(cls)}
        for k in [k for k in kw if k not in known]:
            problems.append(f"conditions.{k}: unknown key (known: {', '.join(known)})")
            kw.pop(k)
        if problems:
            raise ConfigError(problems)
        return cls(**kw)

    def model_trusted(self, exercise: str, key: str) -> bool:
        """Whether a conditions model may decide this condition (where no measure does)."""
        return f"{exercise}.{key}" in self.model_decides

    def trusting_every_model(self) -> ConditionConfig:
        """This config with every conditions model deciding where no measure does and the
        landmarks can see: for benches and tests of the models themselves (the station trusts
        only ``model_decides``)."""
        return replace(self, model_decides=tuple(sorted(CONDITION_IDS - set(self.measured) - set(self.unseen))))

    def threshold(self, key: str) -> float:
        """A threshold by its dotted key (``squat.depth``)."""
        ex, _, name = key.partition(".")
        return float(getattr(self, ex)[name])


def _ok_mask(lm: np.ndarray, cfg: ConditionConfig) -> np.ndarray:
    xy = lm[..., :2]
    vis = lm[..., 3]
    m = -cfg.edge_margin  # points at the picture's edge belong to a body part leaving it
    with np.errstate(invalid="ignore"):
        inside = ((xy >= -m) & (xy <= 1 + m)).all(-1)
        seen = np.where(np.isfinite(vis), vis, 0.0) >= cfg.min_visibility
    return np.isfinite(xy).all(-1) & inside & seen


def _working_side(rd: M.RepData, exercise: str) -> str:
    """One-sided exercises: the side whose knee moved most over the rep, read from every found
    landmark (the working leg may be the far one, hidden in a side view: then it is that one,
    and unusable, rather than the near standing leg)."""
    seen = M.RepData(rd.exercise, rd.t, rd.p, np.isfinite(rd.p[..., :2]).all(-1), rd.scale, rd.view,
                     rd.min_coverage)
    best, side = -1.0, ""
    for s in M.SIDES:
        if not seen.usable(s, ("hip", "kne", "ank")):
            continue
        if exercise == "side_lunge":
            v = M.m_knee_flexion_range(seen, s)
        else:
            y = (seen.xy(s, "kne")[:, 1] - seen.xy(s, "hip")[:, 1]) / rd.scale
            v = M.pct(y, 95) - M.pct(y, 5)
        if np.isfinite(v) and v > best:
            best, side = v, s
    return side


def _working_arm(rd: M.RepData, share: float) -> str:
    """A one-arm rep: the arm whose wrist travelled most, when the other's travelled less than
    ``share`` of it ("" when both arms worked). Travel is the wrist's range of distance from,
    and height over, its shoulder in torso lengths, read from every found landmark (the working
    arm may be the far one of a side view)."""
    travel = {}
    for s in M.SIDES:
        sho, wri = rd.p[:, M.PARTS[s]["sho"], :2], rd.p[:, M.PARTS[s]["wri"], :2]
        d = np.linalg.norm(wri - sho, axis=-1) / rd.scale
        h = (sho[:, 1] - wri[:, 1]) / rd.scale
        travel[s] = max(M.pct(h, 95) - M.pct(h, 5), M.pct(d, 95) - M.pct(d, 5))
    if not all(np.isfinite(v) for v in travel.values()):
        return ""
    most, least = sorted(M.SIDES, key=travel.get, reverse=True)
    return most if travel[most] > 0 and travel[least] < share * travel[most] else ""


def judge_conditions(exercise: str, t, landmarks, world=None, image_size=None,
                     rep_start: float | None = None, rep_end: float | None = None,
                     view=None, config: ConditionConfig | None = None) -> list[ConditionVerdict]:
    """Measure every condition of ``exercise`` over one rep.

    ``t`` (T,) and ``landmarks`` (T, 33, 4) as the pose gives them (NaN rows where nobody was
    found), ``world`` (T, 33, 4) BlazePose world landmarks or None, ``image_size`` (w, h),
    the rep's span in seconds (default: all frames), ``view`` a :class:`~.view.View` (estimated
    from the rep when None). Returns one :class:`ConditionVerdict` per condition of the
    exercise, in its order: judged by the measure where ``config.measured`` says so and the
    view and joints allow; otherwise ``judged=False`` with the reason (a measured value is
    still attached where there is one).
    """
    cfg = config or ConditionConfig()
    ex = EXERCISES[exercise]
    t = np.asarray(t, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (33, 4) or len(lm) != len(t):
        raise ValueError(f"landmarks must be (T, 33, 4) with T = len(t) = {len(t)}, got {lm.shape}")
    lo = -np.inf if rep_start is None else rep_start - 1e-6
    hi = np.inf if rep_end is None else rep_end + 1e-6
    sel = (t >= lo) & (t <= hi)
    lm = lm[sel]
    w = None
    if world is not None:
        w = np.asarray(world, dtype=np.float64)
        w = w[sel] if w.shape[:1] == (len(sel),) else None
    out: list[ConditionVerdict] = []

    def unjudged(cond, reason, value=None, thr=None, source="") -> ConditionVerdict:
        return ConditionVerdict(cond.key, False, None, value=value, threshold=thr, source=source,
                                cue=cond.cue, reason=reason)

    if view is None:
        view = estimate_view(lm, image_size, w) if len(lm) else UNKNOWN
    ok = _ok_mask(lm, cfg)
    p = aspect_corrected(lm, image_size)
    with np.errstate(invalid="ignore"):
        sc = body_scale(np.where(ok[..., None], p, np.nan)) if len(p) else np.array([])
    scale = float(np.nanpercentile(sc, 90)) if np.isfinite(sc).any() else float("nan")
    rd = M.RepData(exercise, t[sel], p, ok, scale, view, cfg.min_coverage)
    defs = {d.key: d for d in M.definitions(exercise)}
    if any(d.sides in ("working", "other") for d in defs.values()) and np.isfinite(scale):
        rd.working = _working_side(rd, exercise)
    if any(d.sides == "arms" for d in defs.values()) and np.isfinite(scale):
        rd.arm = _working_arm(rd, cfg.one_arm_share)

    for cond in ex.conditions:
        d = defs.get(cond.key)
        if d is None:
            out.append(unjudged(cond, "no measure defined for this condition"))
            continue
        thr = cfg.threshold(dict(d.view_thresholds).get(view.view, d.threshold))
        if len(lm) < 3 or not np.isfinite(scale):
            out.append(unjudged(cond, "too few frames with the body in view", thr=thr))
            continue
        if not view.view:
            out.append(unjudged(cond, "camera view unknown", thr=thr))
            continue
        # which sides to read
        if d.sides in ("working", "other"):
            if not rd.working:
                out.append(unjudged(cond, f"working leg not visible ({', '.join(d.parts)})", thr=thr))
                continue
            other = "right" if rd.working == "left" else "left"
            cand = [rd.working if d.sides == "working" else other]
        elif d.sides == "arms" and rd.arm:
            if view.view == M.SIDE and view.facing in M.SIDES and rd.arm != view.facing:
                out.append(unjudged(cond, f"the working arm ({rd.arm}) is the far one of a side view",
                                    thr=thr, source=UNSEEN))
                continue
            cand = [rd.arm]
        elif view.view == M.SIDE and view.facing in M.SIDES:
            cand = [view.facing]  # the far side of a side view is the pose model's guess
        else:
            cand = list(M.SIDES)
        sides = [s for s in cand if rd.usable(s, d.parts)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            vals = [float(d.fn(rd, s)) for s in sides]
        vals = [v for v in vals if math.isfinite(v)]
        value = None
        if vals:
            if d.sides == "worst":
                value = max(vals) if d.fault == "above" else min(vals)
            else:
                value = float(np.mean(vals))
        if view.view not in d.views:
            article = "an" if view.view[0] in "aeiou" else "a"
            out.append(unjudged(cond, f"{article} {view.view} view cannot see {d.quantity}", value, thr,
                                UNSEEN))
            continue
        off = abs(abs(view.yaw) - 90.0)  # degrees from side-on
        if d.side_within and not off <= cfg.threshold(d.side_within):
            how_far = f"{off:.0f}° from side-on" if math.isfinite(off) else "at an unknown angle"
            out.append(unjudged(cond, f"a view {how_far} cannot see {d.quantity} (judged within "
                                      f"{cfg.threshold(d.side_within):.0f}°)", value, thr, UNSEEN))
            continue
        if not sides:
            names = ", ".join(f"{s} {'/'.join(d.parts)}" for s in cand)
            out.append(unjudged(cond, f"not visible on enough of the rep: {names}", thr=thr, source=UNSEEN))
            continue
        if value is None:
            out.append(unjudged(cond, d.undefined, thr=thr))
            continue
        fails = value > thr if d.fault == "above" else value < thr
        if d.id in cfg.unseen and (d.id not in cfg.fail_only or not fails) and d.id not in cfg.measured:
            out.append(unjudged(cond, UNSEEN_REASON.get(cond.key, "the landmarks cannot observe it"),
                                value, thr, UNSEEN))
            continue
        if d.id not in cfg.measured and d.id not in cfg.fail_only:
            out.append(unjudged(cond, "measure not trusted for this condition; left to a model",
                                value, thr))
            continue
        if not fails and d.id not in cfg.measured:
            out.append(unjudged(cond, f"no {d.quantity} past the threshold; the rest of this "
                                      "condition is left to a model", value, thr))
            continue
        cue = d.cue
        if d.threshold_hi and not fails and value > cfg.threshold(d.threshold_hi):
            fails, thr, cue = True, cfg.threshold(d.threshold_hi), d.cue_hi or d.cue
        shown = abs(value) if "{value:.0f}°" in cue and d.fault == "below" and value < 0 else value
        out.append(ConditionVerdict(cond.key, True, not fails, value=round(value, 4), threshold=thr,
                                    p=None, source="measure",
                                    cue=cue.format(value=shown) if fails else cond.cue,
                                    reason=""))
    return out
