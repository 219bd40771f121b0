"""Rep counting from landmarks, per exercise (pure numpy, causal, no I/O).

Each exercise has a recipe of measures of its own moving joints (:data:`RECIPES`), oriented so
that rest is low and the working end high; an adaptive range, a fusion weighted towards the
measures this camera view shows clearly, and hysteresis turn them into reps
(:class:`RepCounter`, one frame at a time; :func:`count_reps` over a recording, identically).
Movements that are none of the nine (``other``) are counted on their dominant joint signal.
The rules, every threshold and the known limits are written down in ``docs/reps.md``.
"""

from __future__ import annotations

import logging
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..exercises import EXERCISE_IDS, OTHER
from ..pose.landmarks import NUM_LANDMARKS
from .features import FeatureSpec, MissingFiller, aspect_corrected, in_view

log = logging.getLogger(__name__)

# BlazePose indices per side.
_SIDES = {
    "left": dict(sho=11, elb=13, wri=15, hip=23, kne=25, ank=27),
    "right": dict(sho=12, elb=14, wri=16, hip=24, kne=26, ank=28),
}
SIDE_NAMES = ("left", "right")
# Both sides at once: part -> [left index, right index] (measures return (T, 2)).
_BOTH = {part: np.array([_SIDES["left"][part], _SIDES["right"][part]]) for part in _SIDES["left"]}


# ---- measures --------------------------------------------------------------------------------
# Each measure maps isotropic coordinates (T, 33, 3) with y pointing down, and a body scale in
# image units, to values in degrees or body units. It gets each part's indices for both sides
# at once (``_BOTH``) and returns (T, 2): left, right. They run once per frame in the station,
# on one row: written with few numpy calls (``_norm`` is ``np.linalg.norm(v, axis=-1)``'s
# arithmetic for 2-D vectors without its overhead), and callers silence NaN warnings once.

def _norm(v: np.ndarray) -> np.ndarray:
    x, y = v[..., 0], v[..., 1]
    return np.sqrt(x * x + y * y)


def _angle(p: np.ndarray, a: int, v: int, c: int) -> np.ndarray:
    u = p[:, a, :2] - p[:, v, :2]
    w = p[:, c, :2] - p[:, v, :2]
    cos = np.sum(u * w, axis=-1) / (_norm(u) * _norm(w))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _dist(p: np.ndarray, a: int, b: int) -> np.ndarray:
    return _norm(p[:, a, :2] - p[:, b, :2])


def _mid(p: np.ndarray, a: int, b: int) -> np.ndarray:
    return (p[:, a] + p[:, b]) / 2


@dataclass(frozen=True)
class Measure:
    name: str
    landmarks: Callable[[dict], tuple[int, ...]]  # side indices -> landmarks it reads
    fn: Callable  # fn(p, part indices, scale)
    angle: tuple[str, str, str] | None = None  # for joint angles: the parts (a, vertex, c)


# Typical segment lengths in torso units (for the body scale and angle reliability).
_SEGMENT_RATIO = {("hip", "kne"): 0.85, ("kne", "ank"): 0.85, ("sho", "hip"): 1.0,
                  ("sho", "elb"): 0.6, ("elb", "wri"): 0.55}


def _angle_measure(name: str, a: str, v: str, c: str, flex: bool) -> Measure:
    def fn(p, s, sc):
        ang = _angle(p, s[a], s[v], s[c])
        return 180.0 - ang if flex else ang

    return Measure(name, lambda s: (s[a], s[v], s[c]), fn, angle=(a, v, c))


def _reliability(p: np.ndarray, s: dict, parts: tuple[str, str, str], sc: np.ndarray) -> np.ndarray:
    """How much a 2-D joint angle can be trusted, 0..1: a segment seen end-on (foreshortened
    below 60% of its length) makes the projected angle jump about; the angle fades out."""
    a, v, c = parts
    fr = []
    for x, y in ((a, v), (v, c)):
        key = (x, y) if (x, y) in _SEGMENT_RATIO else (y, x)
        fr.append(_dist(p, s[x], s[y]) / (_SEGMENT_RATIO[key] * sc))
    return np.clip((np.minimum(*fr) - 0.3) / 0.3, 0.0, 1.0)


MEASURES: dict[str, Measure] = {m.name: m for m in (
    # Flexion angles: 0 when straight, growing as the joint bends.
    _angle_measure("knee_flexion", "hip", "kne", "ank", flex=True),
    _angle_measure("hip_flexion", "sho", "hip", "kne", flex=True),
    _angle_measure("elbow_flexion", "sho", "elb", "wri", flex=True),
    _angle_measure("elbow_extension", "sho", "elb", "wri", flex=False),
    # Arm raised away from the torso (0 = hanging, 90 = horizontal, 180 = overhead).
    _angle_measure("shoulder_abduction", "elb", "sho", "hip", flex=False),
    # Heights (image y points down), in body units.
    Measure("wrist_height", lambda s: (s["sho"], s["wri"]),
            lambda p, s, sc: (p[:, s["sho"], 1] - p[:, s["wri"], 1]) / sc),
    Measure("knee_height", lambda s: (s["hip"], s["kne"]),
            lambda p, s, sc: (p[:, s["hip"], 1] - p[:, s["kne"], 1]) / sc),
    Measure("ankle_height", lambda s: (s["hip"], s["ank"]),
            lambda p, s, sc: (p[:, s["hip"], 1] - p[:, s["ank"], 1]) / sc),
    Measure("knee_elbow_closeness", lambda s: (s["kne"], s["elb"]),
            lambda p, s, sc: -_dist(p, s["kne"], s["elb"]) / sc),
    Measure("hip_drop", lambda s: (s["hip"], s["ank"]),  # hip sinking towards the foot
            lambda p, s, sc: (p[:, s["hip"], 1] - p[:, s["ank"], 1]) / sc),
    Measure("shoulder_drop", lambda s: (s["sho"], s["hip"]),  # shoulder sinking towards the hip
            lambda p, s, sc: (p[:, s["sho"], 1] - p[:, s["hip"], 1]) / sc),
    # The hips shifting over one foot (side lunge): that foot's ankle comes closer to them.
    Measure("hips_over_foot", lambda s: (s["hip"], s["ank"]),
            lambda p, s, sc: -np.abs((p[:, 23, 0] + p[:, 24, 0])[:, None] / 2 - p[:, s["ank"], 0]) / sc),
    # The hip sinking to the knee's height: a squat or lunge seen with the feet out of frame.
    Measure("hip_knee", lambda s: (s["hip"], s["kne"]),
            lambda p, s, sc: (p[:, s["hip"], 1] - p[:, s["kne"], 1]) / sc),
    # Lying on the back, the pelvis lifted above the shoulders (a leg raise that curls up).
    Measure("pelvis_lift", lambda s: (s["sho"], s["hip"]),
            lambda p, s, sc: (p[:, s["sho"], 1] - p[:, s["hip"], 1]) / sc),
    # Lying, the hips rising off the floor in the image (the camera stands still): a pelvis that
    # curls up shows here whatever the shoulders do, and from any side of the mat.
    Measure("hip_height", lambda s: (s["hip"],),
            lambda p, s, sc: -p[:, s["hip"], 1] / sc),
    # The torso leaning towards or away from the camera looks shorter (front and back views).
    Measure("torso_foreshortening", lambda s: (s["sho"], s["hip"]),
            lambda p, s, sc: -_dist(p, s["sho"], s["hip"]) / sc),
)}


@dataclass(frozen=True)
class Component:
    measure: str
    nominal: float  # the measure's change over a typical full rep (degrees or body units)
    reduce: str = "both"  # both: two-sided exercise (see exercise_components); max: either side


# Rest is low, the working end high. Nominal amplitudes are those of a textbook rep seen
# square-on; other views see less, which the adaptive range absorbs. A measure that does not
# move in a variant or a view (the pelvis in a classic leg raise) weighs next to nothing.
RECIPES: dict[str, tuple[Component, ...]] = {
    "squat": (Component("knee_flexion", 90), Component("hip_flexion", 80), Component("hip_drop", 0.8),
              Component("hip_knee", 0.8)),
    "deadlift": (Component("hip_flexion", 70), Component("shoulder_drop", 0.6),
                 Component("torso_foreshortening", 0.6)),
    "knee_up": (Component("hip_flexion", 80, "max"), Component("knee_height", 0.7, "max")),
    # the pelvis curling ~10 cm off the floor (a fifth of a torso) at the top of a reverse crunch
    "leg_raise": (Component("hip_flexion", 80), Component("ankle_height", 1.2), Component("pelvis_lift", 0.4),
                  Component("hip_height", 0.2)),
    "overhead_press": (Component("elbow_extension", 80), Component("wrist_height", 0.8)),
    "side_raise": (Component("shoulder_abduction", 70), Component("wrist_height", 0.9)),
    # either arm: alternating one-arm curls count each arm, a two-arm curl once ("both"); the
    # wrists as a pair (the lower one) add a two-arm curl's clean height and stay still otherwise;
    # either wrist's height sees a one-arm curl whose forearm points at the camera (a front view
    # foreshortens it, and the elbow angle fades out exactly at the top of the rep)
    "barbell_curl": (Component("elbow_flexion", 110, "max"), Component("wrist_height", 0.8, "max"),
                     Component("wrist_height", 0.8)),
    # the side: the raised knee's (the first "max" component names the side)
    "side_crunch": (Component("knee_height", 0.5, "max"), Component("knee_elbow_closeness", 0.8, "max")),
    # the side: the foot the hips shift over (a bent knee seen obliquely can look straight)
    "side_lunge": (Component("hips_over_foot", 0.5, "max"), Component("knee_flexion", 60, "max"),
                   Component("hip_drop", 0.4, "max"), Component("hip_knee", 0.4, "max")),
    # None of the nine: every joint a common exercise moves, counted on the dominant one alone
    # (RepConfig.dominant_switch).
    OTHER: (Component("knee_flexion", 90, "max"), Component("hip_flexion", 80, "max"),
            Component("elbow_flexion", 110, "max"), Component("shoulder_abduction", 70, "max"),
            Component("wrist_height", 0.8, "max"), Component("knee_height", 0.7, "max"),
            Component("hip_knee", 0.8, "max")),
}
assert set(RECIPES) == {*EXERCISE_IDS, OTHER}
# One-sided exercises that may also be done with both sides at once (a two-arm curl): a rep
# whose sides moved alike reports side "both" (RepConfig.both_ratio).
BOTH_SIDES_AT_ONCE = frozenset({"barbell_curl", OTHER})
# Counted on the one component that moves most, not on a fusion (see RepCounter.push).
DOMINANT = frozenset({OTHER})
# A set that begins at the working end: a deadlift's bar rests on the floor, so the first pull
# starts there. A movement under way when counting begins counts once it reaches rest.
STARTS_AT_WORKING_END = frozenset({"deadlift"})
# Sets that keep the working limbs off their rest between reps (a leg raise's legs hover above
# the floor, or stay near vertical while the pelvis curls; a press set taken up from the hang
# returns to the shoulders, above the hanging arms that set its range's floor): from the first
# rep on, a touch-and-go valley ends a rep, as it does for any exercise once a rep has shown
# the range.
HOVER_BETWEEN_REPS = frozenset({"leg_raise", "overhead_press"})
# Sets whose reps swing between a hover and the top, well short of the set's rest: a leg raise's
# legs never go back to the floor (a reverse crunch's stay high), while the range learnt from
# the set's start on the floor spans floor to vertical. A valley of
# RepConfig.hover_valley of that range ends a rep (count_depth for everyone else). A press's
# reps return to the shoulders, most of its range: it keeps count_depth.
SHALLOW_VALLEYS = frozenset({"leg_raise"})
# Exercises whose way up holds a loaded bar in straight, hanging arms: a rise with the elbows
# bent (hands free: adjusting, shaking out, wiping the face) is standing up without the bar
# (RepConfig.max_pull_elbow_deg).
HOLDS_A_BAR = frozenset({"deadlift"})
# Exercises whose partial reps count in series (RepConfig.min_amplitude_repeated), each at a
# rep's pace (min_partial_rep_s): no everyday rhythm moves their joints alike. Marching in
# place lifts the knees and swings the arms, standing idle sways and leans, and weight shifts
# move the hips over a foot, so for knee-ups, side crunches, side raises, curls and side lunges
# a series of small excursions is no evidence of a set; a squat bends both knees at once and a
# press straightens both arms overhead, which they seldom do.
PARTIAL_SETS = frozenset({"squat", "overhead_press"})
# Exercises done lying on the back: an excursion with the torso upright (standing, sitting up,
# getting down onto the mat) is not one of their reps (RepConfig.max_lying_torso_rise).
LIES_DOWN = frozenset({"leg_raise"})

# The quickest a real rep of each exercise takes, onset to back at rest (about half the
# quickest tempo people use): a walking step (0.4-0.6 s) is not a side lunge.
MIN_REP_S: dict[str, float] = {
    "squat": 0.6, "deadlift": 0.7, "leg_raise": 0.7, "side_lunge": 0.8, "overhead_press": 0.5,
    "barbell_curl": 0.5, "side_raise": 0.5, "knee_up": 0.4, "side_crunch": 0.4, OTHER: 0.5,
}

# Per side, the joints the counter needs (its moving joints, on at least one side): with these
# in view reps are counted, whatever else is out of frame.
MOVING_PARTS: dict[str, tuple[str, ...]] = {
    "squat": ("hip", "kne"),
    "deadlift": ("sho", "hip"),
    "knee_up": ("hip", "kne"),
    "leg_raise": ("hip", "kne"),
    "overhead_press": ("sho", "elb", "wri"),
    "side_raise": ("sho", "elb"),
    "barbell_curl": ("sho", "elb", "wri"),
    "side_crunch": ("elb", "hip", "kne"),
    "side_lunge": ("hip", "kne"),
    OTHER: ("sho", "hip"),
}
# With no exercise chosen yet: a torso is enough to start recognising.
GENERIC_KEY_PARTS: tuple[str, ...] = ("sho", "hip")

# Body parts a person can be told about, as (left, right) landmark ids: a part is in view when
# all of its ids on at least one side are.
BODY_PARTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "head": ((0, 7), (0, 8)),
    "shoulders": ((11,), (12,)),
    "elbows": ((13,), (14,)),
    "hands": ((15,), (16,)),
    "hips": ((23,), (24,)),
    "knees": ((25,), (26,)),
    "feet": ((27, 29), (28, 30)),
}
# The parts each exercise needs to be judged in full (its conditions' joints): reported when
# missing, never a reason to stop counting.
NEEDED_PARTS: dict[str, tuple[str, ...]] = {
    "squat": ("head", "shoulders", "hips", "knees", "feet"),
    "deadlift": ("shoulders", "hips", "knees", "feet"),
    "knee_up": ("head", "shoulders", "hips", "knees"),
    "leg_raise": ("head", "shoulders", "hips", "knees", "feet"),
    "overhead_press": ("shoulders", "elbows", "hands"),
    "side_raise": ("shoulders", "elbows", "hands", "hips"),
    "barbell_curl": ("shoulders", "elbows", "hands", "hips"),
    "side_crunch": ("head", "shoulders", "elbows", "hips", "knees"),
    "side_lunge": ("shoulders", "hips", "knees", "feet"),
    OTHER: ("shoulders", "hips"),
}
assert set(MOVING_PARTS) == set(NEEDED_PARTS) == set(RECIPES)


@dataclass(frozen=True)
class _RecipeArrays:
    """A recipe as the arrays :func:`exercise_components` works with, all components at once."""

    nominal: np.ndarray  # (C,)
    is_max: np.ndarray  # (C,) bool: a "max" component
    landmarks: np.ndarray  # (C, k, 2): each measure's landmarks, left and right
    angles: tuple[tuple[int, tuple[str, str, str]], ...]  # joint-angle components and their parts
    side_k: int  # the component naming a rep's side (the first "max"); -1: none


def _recipe_arrays(recipe: tuple[Component, ...]) -> _RecipeArrays:
    width = max(len(MEASURES[c.measure].landmarks(_BOTH)) for c in recipe)
    ids = []
    for c in recipe:  # pad with the first landmark again: the minimum is unchanged
        own = list(MEASURES[c.measure].landmarks(_BOTH))
        ids.append(np.stack(own + own[:1] * (width - len(own))))
    is_max = np.array([c.reduce == "max" for c in recipe])
    return _RecipeArrays(np.array([c.nominal for c in recipe], dtype=np.float64), is_max, np.stack(ids),
                         tuple((k, MEASURES[c.measure].angle) for k, c in enumerate(recipe)
                               if MEASURES[c.measure].angle),
                         int(np.argmax(is_max)) if is_max.any() else -1)


_RECIPE_ARRAYS = {name: _recipe_arrays(recipe) for name, recipe in RECIPES.items()}


def missing_parts(exercise: str | None, lm: np.ndarray | None, min_visibility: float = 0.5,
                  margin: float = 0.02) -> tuple[str, ...]:
    """The parts ``exercise`` needs (:data:`NEEDED_PARTS`) that are not in view on this frame,
    in :data:`BODY_PARTS` order (``("feet",)``: "feet out of frame"); all of them when nobody
    is there. ``None``: the torso that recognition needs."""
    needed = NEEDED_PARTS.get(exercise, ("shoulders", "hips")) if exercise else ("shoulders", "hips")
    if lm is None:
        return tuple(needed)
    ok = in_view(lm, min_visibility, margin)
    return tuple(part for part in needed if not any(ok[list(ids)].all() for ids in BODY_PARTS[part]))


def key_landmarks(exercise: str | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(left, right)`` landmark ids that must be in view, on at least one side, for reps of
    ``exercise`` to be counted: its moving joints (``None``: any exercise, a torso)."""
    parts = MOVING_PARTS.get(exercise, GENERIC_KEY_PARTS) if exercise else GENERIC_KEY_PARTS
    return tuple(tuple(_SIDES[s][p] for p in parts) for s in SIDE_NAMES)  # type: ignore[return-value]


def recipe_landmarks(exercise: str) -> tuple[int, ...]:
    """Every landmark an exercise's signal reads (plus the ones body scale uses)."""
    ids = set(_SCALE_LANDMARKS)
    for comp in RECIPES[exercise]:
        m = MEASURES[comp.measure]
        for s in SIDE_NAMES:
            ids.update(m.landmarks(_SIDES[s]))
    return tuple(sorted(ids))


# ---- body scale ------------------------------------------------------------------------------
# Every 2-D segment length is at most its true length, so the largest of several segments,
# each divided by its typical ratio to the torso, is a foreshortening-robust size in "torso
# units" (one unit = mid-shoulder to mid-hip). The second largest is used, so one wild segment
# (a hallucinated occluded limb) cannot inflate it.
_SCALE_SEGMENTS = (  # (a, b, typical length / torso length)
    ("torso", None, 1.0),
    (11, 12, 0.75), (23, 24, 0.55),  # shoulder and hip width
    (23, 25, 0.85), (24, 26, 0.85), (25, 27, 0.85), (26, 28, 0.85),  # thighs, shins
    (11, 13, 0.6), (12, 14, 0.6),  # upper arms
)
_SCALE_LANDMARKS = (11, 12, 13, 14, 23, 24, 25, 26, 27, 28)
_SCALE_A = np.array([a for a, _, _ in _SCALE_SEGMENTS[1:]])
_SCALE_B = np.array([b for _, b, _ in _SCALE_SEGMENTS[1:]])
_SCALE_RATIO = np.array([r for _, _, r in _SCALE_SEGMENTS[1:]])


def body_scale(p: np.ndarray) -> np.ndarray:
    """Per-frame body size (T,) in image units of one torso length; NaN when unknown."""
    est = np.empty((p.shape[0], len(_SCALE_SEGMENTS)))  # (T, n)
    est[:, 0] = _norm((_mid(p, 11, 12) - _mid(p, 23, 24))[:, :2]) / _SCALE_SEGMENTS[0][2]
    est[:, 1:] = _norm(p[:, _SCALE_A, :2] - p[:, _SCALE_B, :2]) / _SCALE_RATIO
    est = np.where(np.isfinite(est), est, -np.inf)
    est.sort(axis=1)
    out = np.where(np.isfinite(est[:, -2]), est[:, -2], est[:, -1])
    out[~np.isfinite(out) | (out <= 1e-6)] = np.nan
    return out


def exercise_components(exercise: str, xyz: np.ndarray, vis: np.ndarray,
                        scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exercise's measures for ``(T, 33, 3)`` isotropic coordinates and visibilities
    ``(T, 33)`` (NaN where a landmark is missing): ``(components (T, C), reliability (T, C),
    sides (T, 2))``.

    Each component is in nominal-rep units (its change over a typical full rep seen square-on
    is about 1) and grows towards the working end. Reliability is 1 for positions and fades for
    joint angles whose segments are seen end-on. ``sides`` holds the first ``max``
    component's left and right values (NaN for two-sided exercises): which leg or arm did a
    rep is the one whose value rose most over it.
    """
    p = np.asarray(xyz, dtype=np.float64)
    vis = np.asarray(vis, dtype=np.float64)
    T = p.shape[0]
    sc = body_scale(p) if scale is None else np.asarray(scale, dtype=np.float64)
    recipe = _RECIPE_ARRAYS[exercise]
    sc2 = sc[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        # Every component's left and right values at once: (T, C, 2).
        vals = np.stack([MEASURES[c.measure].fn(p, _BOTH, sc2) for c in RECIPES[exercise]], axis=1)
        rs = np.ones_like(vals)
        for k, angle in recipe.angles:
            rs[:, k] = _reliability(p, _BOTH, angle, sc2)
        ws = vis[:, recipe.landmarks].min(axis=2)  # (T, C, 2): each side's least visible point
        ok = np.isfinite(vals) & np.isfinite(ws)
        # max components: the side that moved more (either arm or leg counts).
        # (Two sides: "the other side" is a comparison, as argmax/argmin would pick it.)
        masked = np.where(ok, vals, -np.inf)
        right = masked[..., 1] > masked[..., 0]
        v_max = np.where(right, masked[..., 1], masked[..., 0])
        v_max[~ok.any(axis=2)] = np.nan
        r_max = np.where(right, rs[..., 1], rs[..., 0])
        # Two-sided components: where both sides are clearly seen, the one that moved less (a
        # hand raised to the face is not a side raise); as the weaker side fades from view,
        # its visibility-weighted mean with the other (a hidden far side only adds its
        # guesswork faintly).
        w = np.where(ok, np.clip(ws, 0.05, 1.0) ** 2, 0.0)
        wsum = w.sum(axis=2)
        mean = np.where(wsum > 0, np.sum(np.where(ok, vals, 0.0) * w, axis=2) / wsum, np.nan)
        up = np.where(ok, vals, np.inf)
        right = up[..., 1] < up[..., 0]
        low = np.where(right, vals[..., 1], vals[..., 0])
        both = np.clip((np.min(np.where(ok, ws, 0.0), axis=2) - 0.3) / 0.4, 0.0, 1.0)
        all_ok = ok.all(axis=2)
        v_both = np.where(all_ok, both * low + (1 - both) * mean, mean)
        r_mean = np.where(wsum > 0, np.sum(np.where(ok & ~np.isnan(rs), rs, 0.0) * w, axis=2) / wsum, 0.0)
        r_both = np.where(all_ok, both * np.where(right, rs[..., 1], rs[..., 0]) + (1 - both) * r_mean, r_mean)
    out = np.where(recipe.is_max, v_max, v_both) / recipe.nominal
    r = np.where(recipe.is_max, r_max, r_both)
    rel = np.where(np.isnan(r), 0.0, r)  # (never infinite)
    sides = np.full((T, 2), np.nan)
    if recipe.side_k >= 0:
        k = recipe.side_k
        sides = np.where(ok[:, k], vals[:, k], np.nan) / RECIPES[exercise][k].nominal
    return out, rel, sides


# ---- the counter -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RepConfig:
    """Rep counting parameters; the defaults suit every exercise and camera view.

    Amplitudes are in nominal-rep units (1 = a typical full rep seen square-on)."""

    range_window_s: float = 12.0  # history for the adaptive range and noise (3+ reps)
    lo_pct: float = 10.0  # percentile taken as rest
    hi_pct: float = 90.0  # percentile taken as the working end
    min_range: float = 0.3  # floor of each component's range (nominal units): idle stays near u = 0
    min_amplitude: float = 0.35  # a rep moves at least this much (idle fidgeting moves ~0.2)
    min_amplitude_repeated: float = 0.2  # PARTIAL_SETS: ...or this much when the excursion
    #                                      before it, ended at most max_rep_s before it began,
    #                                      moved alike (repeat_ratio): a set of half squats
    #                                      seen from the front reads 0.25-0.3
    repeat_ratio: float = 0.5  # alike: the smaller amplitude is at least this share of the larger
    min_partial_rep_s: float = 0.8  # ...and each small one lasts this long: slower than a step
    #                                 of walking or marching in place (0.5-0.6 s at 100-120
    #                                 steps a minute); a controlled rep takes a second or more
    enter: float = 0.4  # u above this starts an excursion
    exit: float = 0.2  # u below this ends it (enter - exit = the jitter it ignores)
    count_depth: float = 0.5  # an excursion counts as a rep from this fraction of the typical range
    rebound: float = 0.15  # a valley this far below the signal (and count_depth below the peak)
    #                        ends a touch-and-go rep that never got back to rest
    hover_valley: float = 0.4  # SHALLOW_VALLEYS: ...or this far below the peak (of a range that
    #                            includes the set's start from the floor)
    full_depth: float = 0.8  # below this fraction a counted rep fails ``rom``
    min_rep_s: float = 0.4  # (each exercise has its own, longer minimum: MIN_REP_S)
    min_active_s: float = 0.2  # ...of which at least this long past ``enter`` (spikes are not reps)
    max_rep_s: float = 12.0
    max_gap_s: float = 1.0  # a longer loss of the person abandons the rep in progress
    smooth_s: float = 0.2  # causal median over this span kills one- or two-frame glitches
    min_visibility: float = 0.1  # landmarks below are treated as missing
    hold_s: float = 0.5  # missing landmarks are held this long (as the feature filler does)
    min_observed: float = 0.6  # a rep needs this share of its frames really seen, not held:
    #                            a one-off bad lock-on held through a dropout is not a rep
    noise_floor: float = 0.01  # smallest noise level assumed for a component
    typical_reps: int = 5  # the typical depth is the median of this many recent reps
    typical_memory_s: float = 90.0  # ...done within this many seconds
    both_ratio: float = 0.5  # a curl whose other arm rose at least this share of the working
    #                          arm's rise is done with both at once (a two-arm curl), side "both"
    settle_s: float = 0.15  # a pull from the floor (STARTS_AT_WORKING_END) ends once the signal,
    #                         back at rest, has made no new low for this long (the lockout)
    max_pull_elbow_deg: float = 45.0  # HOLDS_A_BAR: a way up with an elbow bent past this for
    #                                   half its frames had its hands free, not on a bar
    max_lying_torso_rise: float = 0.7  # LIES_DOWN: a torso whose shoulders stand higher than
    #                                    this over the hips (torso lengths; sin 45°) on half an
    #                                    excursion's frames is upright, not lying on the mat
    max_travel: float = 1.5  # the hips moving sideways more than this (torso units) during an
    #                          excursion: walking in, away or to a rack, not a rep
    dominant_switch: float = 1.5  # ``other``: another joint takes over as the counted signal
    #                               only with this many times the current one's range, at rest
    dominant_snr: float = 3.0  # ``other``: a joint whose range is under this many times its
    #                            jitter is not moving (pose noise is not a movement)
    part_visibility: float = 0.5  # a body part is in view from this visibility (missing parts)
    part_margin: float = 0.02  # ...and within this margin of the image edges

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"RepConfig.{name}: {why}")

        if not 0 <= self.exit < self.enter <= 1:
            bad("enter", f"need 0 <= exit < enter <= 1, got exit={self.exit} enter={self.enter}")
        if not 0 < self.count_depth <= self.full_depth:
            bad("count_depth", "need 0 < count_depth <= full_depth")
        if not 0 < self.min_rep_s < self.max_rep_s:
            bad("max_rep_s", "need 0 < min_rep_s < max_rep_s")
        if not 0 <= self.lo_pct < self.hi_pct <= 100:
            bad("hi_pct", "need 0 <= lo_pct < hi_pct <= 100")
        for name in ("range_window_s", "min_range", "min_amplitude", "max_gap_s", "noise_floor"):
            if not getattr(self, name) > 0:
                bad(name, "must be > 0")
        if not 0 < self.hover_valley <= 1:
            bad("hover_valley", "must be within (0, 1]")
        if not 0 < self.min_amplitude_repeated <= self.min_amplitude:
            bad("min_amplitude_repeated", "need 0 < min_amplitude_repeated <= min_amplitude")
        if not 0 <= self.repeat_ratio <= 1:
            bad("repeat_ratio", "must be within 0..1")
        if self.typical_reps < 1:
            bad("typical_reps", "must be >= 1")
        if not 0 <= self.min_observed <= 1:
            bad("min_observed", "must be within 0..1")
        for name in ("both_ratio", "settle_s", "max_pull_elbow_deg", "max_lying_torso_rise", "max_travel",
                     "min_partial_rep_s", "part_margin"):
            if not getattr(self, name) >= 0:
                bad(name, "must be >= 0")
        if not self.dominant_switch >= 1 or not self.dominant_snr >= 0:
            bad("dominant_switch", "dominant_switch must be >= 1, dominant_snr >= 0")
        if not 0 <= self.part_visibility <= 1:
            bad("part_visibility", "must be within 0..1")


@dataclass(frozen=True)
class Rep:
    """One counted rep. Times in seconds; amplitudes in nominal-rep units."""

    exercise: str
    index: int  # 1-based, since the counter was created or reset
    start_t: float  # movement onset
    peak_t: float  # the working end (deepest point)
    end_t: float  # back at rest
    depth: float  # peak excursion / typical excursion (1.0 = a typical full rep)
    amplitude: float  # how far the signal moved from rest
    range_lo: float  # the adaptive range (signal at rest, at the working end) when it ended
    range_hi: float
    full: bool  # depth >= full_depth: the ``rom`` condition holds
    side: str = ""  # one-sided exercises: left, right or both (both at once); "" otherwise

    @property
    def duration(self) -> float:
        return self.end_t - self.start_t


# PENDING: a STARTS_AT_WORKING_END exercise before its first rest was seen.
REST, ACTIVE, BLOCKED, PENDING = "rest", "active", "blocked", "pending"


@dataclass
class _Excursion:
    """An excursion that passed every check of a rep but perhaps its size (PARTIAL_SETS)."""

    end_t: float
    amplitude: float  # nominal units
    held: Rep | None  # a small one waiting for a like one to confirm it; None once counted
    key: int  # its depth history (the side of a one-sided exercise, -1 for both)
    peak_u: float


def _finite_median(a: np.ndarray) -> float:
    """The median of the finite values of ``a`` (NaN when there are none)."""
    a = a[np.isfinite(a)]
    return float(np.median(a)) if len(a) else float("nan")


def _nanquantile0(a: np.ndarray, qs) -> np.ndarray:
    """Quantiles (``qs`` in 0..1) down axis 0 of ``(N, C)``, ignoring NaN (NaN for empty
    columns): ``(len(qs), C)``. numpy's nan-aware versions are ~50x slower on small arrays."""
    srt = np.sort(a, axis=0)  # NaN sorts last
    n = np.isfinite(a).sum(axis=0)
    last = np.maximum(n - 1, 0)
    pos = np.asarray(qs, dtype=np.float64)[:, None] * last  # (Q, C), all quantiles at once
    k0 = np.floor(pos).astype(np.intp)
    k1 = np.minimum(k0 + 1, last)
    f = pos - k0
    cols = np.arange(a.shape[1])
    out = srt[k0, cols] * (1 - f) + srt[k1, cols] * f
    out[:, n == 0] = np.nan
    return out


class _History:
    """Append-only ring of per-frame records (time, components, reliabilities, sides) with the
    oldest dropped from the front; arrays, so that statistics over it are single numpy calls."""

    def __init__(self, C: int, capacity: int = 256):
        self.C = C
        self.t = np.empty(capacity)
        self.x = np.empty((capacity, C))
        self.r = np.empty((capacity, C))
        self.sides = np.empty((capacity, 2))  # the side-naming component, left and right
        self.seen = np.empty(capacity, dtype=bool)  # the frame's landmarks were observed, not held
        self.pos = np.empty(capacity)  # hip centre across the image (NaN: unknown)
        self.arms = np.empty(capacity)  # the more bent of the seen elbows, degrees (NaN: unknown)
        self.rise = np.empty(capacity)  # shoulders over hips, torso lengths (NaN: unknown)
        self.a = self.b = 0  # live rows are a..b-1

    def __len__(self) -> int:
        return self.b - self.a

    def append(self, t: float, x: np.ndarray, r: np.ndarray, sides, seen: bool = True,
               pos: float = float("nan"), arms: float = float("nan"), rise: float = float("nan")) -> None:
        if self.b == len(self.t):
            n = self.b - self.a
            cap = max(2 * n, 256)
            for name in ("t", "x", "r", "sides", "seen", "pos", "arms", "rise"):
                old = getattr(self, name)
                new = np.empty((cap, *old.shape[1:]), dtype=old.dtype)
                new[:n] = old[self.a:self.b]
                setattr(self, name, new)
            self.a, self.b = 0, n
        self.t[self.b], self.x[self.b], self.r[self.b], self.sides[self.b] = t, x, r, sides
        self.seen[self.b], self.pos[self.b], self.arms[self.b], self.rise[self.b] = seen, pos, arms, rise
        self.b += 1

    def drop_before(self, t_min: float, keep_from: float | None = None) -> None:
        """Drop records older than ``t_min``, but none at or after ``keep_from``."""
        limit = t_min if keep_from is None else min(t_min, keep_from)
        self.a += int(np.searchsorted(self.t[self.a:self.b], limit, side="left"))

    @property
    def T(self) -> np.ndarray:
        return self.t[self.a:self.b]

    @property
    def SEEN(self) -> np.ndarray:
        return self.seen[self.a:self.b]

    @property
    def ARMS(self) -> np.ndarray:
        return self.arms[self.a:self.b]

    @property
    def RISE(self) -> np.ndarray:
        return self.rise[self.a:self.b]

    @property
    def POS(self) -> np.ndarray:
        return self.pos[self.a:self.b]

    @property
    def X(self) -> np.ndarray:
        return self.x[self.a:self.b]

    @property
    def R(self) -> np.ndarray:
        return self.r[self.a:self.b]

    @property
    def SIDES(self) -> np.ndarray:
        return self.sides[self.a:self.b]


def _fuse(H: np.ndarray, lo: np.ndarray, rng: np.ndarray, w: np.ndarray,
          rel: np.ndarray | None = None) -> np.ndarray:
    """Weighted mean over components of ``(H - lo) / rng`` (rows (N, C)), each weight times the
    row's reliability squared, skipping missing entries; NaN for rows with nothing."""
    Z = (H - lo) / rng
    W = np.broadcast_to(w, Z.shape) if rel is None else w * rel ** 2
    ok = np.isfinite(Z) & (W > 0)
    W = np.where(ok, W, 0.0)
    tot = W.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, np.sum(np.where(ok, Z, 0.0) * W, axis=1) / tot, np.nan)


class RepCounter:
    """Online rep counter for one exercise (or ``other``): feed every frame to :meth:`update`.

    Each component is normalised by its own adaptive range to ``u_c`` (0 at rest, 1 at the
    working end), and the components are fused with weights ``(span / noise)²``, span being
    what the component moved over the range window: whichever measure moves clearly in this
    camera view dominates, one that does not move in this view or variant, or that the view
    makes noisy (an elbow angle seen edge-on), barely counts. Noise is estimated from second
    differences, which ignore smooth motion. ``other`` counts on the dominant component alone.
    """

    def __init__(self, exercise: str, config: RepConfig | None = None,
                 image_size: tuple[int, int] | None = None):
        if exercise not in RECIPES:
            raise ValueError(f"exercise {exercise!r}: no rep recipe; known: {', '.join(RECIPES)}")
        self.exercise = exercise
        self.config = config or RepConfig()
        self.image_size = image_size
        self._one_sided = any(c.reduce == "max" for c in RECIPES[exercise])
        self._dominant = exercise in DOMINANT
        self._floor_start = exercise in STARTS_AT_WORKING_END
        self._hover = exercise in HOVER_BETWEEN_REPS
        self._valley = self.config.hover_valley if exercise in SHALLOW_VALLEYS else self.config.count_depth
        self._spec = FeatureSpec(landmarks=recipe_landmarks(exercise), feature_set="landmarks",
                                 normalisation="none", min_visibility=self.config.min_visibility,
                                 max_gap_s=self.config.hold_s)
        self._filler = MissingFiller(self._spec)
        self._ids = np.array(self._spec.landmarks)
        # components in body units (heights, distances), which follow the body scale
        self._scaled = np.array([MEASURES[c.measure].angle is None for c in RECIPES[exercise]])
        self.reset()

    # ---- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything (new set, new person)."""
        self._filler.reset()
        self._raw: deque[tuple[float, np.ndarray, np.ndarray]] = deque()  # for the median smoother
        self._scales: deque[tuple[float, float]] = deque()  # per-frame body sizes
        self._scale, self._scale_t = float("nan"), None
        self._hist = _History(len(RECIPES[self.exercise]))
        self._phase = PENDING if self._floor_start else REST
        self._pending_end: tuple | None = None  # a pull from the floor back at rest, not yet settled
        self._pick = -1  # ``other``: the component counted
        self._last_t: float | None = None  # last valid sample
        self._start_t = 0.0
        self._enter_t = 0.0
        self._end_t = -np.inf  # end of the last excursion
        # recent reps' peak u, per side for one-sided exercises (-1: both sides)
        self._depths: dict[int, deque[tuple[float, float]]] = {}
        self._last_exc: _Excursion | None = None  # the last one that passed every other check
        self.count = 0
        self.u: float = float("nan")  # last fused, normalised signal (0 rest, 1 working end)
        self.weights: np.ndarray | None = None  # last fusion weights (normalised)
        self.missing: tuple[str, ...] = ()  # needed body parts out of view on the last frame

    @property
    def active(self) -> bool:
        """A rep is in progress."""
        return self._phase == ACTIVE

    @property
    def signal(self) -> str:
        """The measure counted on (``other``: the dominant one), or the exercise's recipe."""
        comps = RECIPES[self.exercise]
        if self._dominant:
            return comps[self._pick].measure if self._pick >= 0 else ""
        return "+".join(dict.fromkeys(c.measure for c in comps))

    # ---- per frame -----------------------------------------------------------------------
    def components_at(self, t: float, landmarks: np.ndarray | None,
                      image_size: tuple[int, int] | None = None,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, float, float, float]:
        """Fill missing landmarks and compute one frame's components:
        ``(x (C,), reliability (C,), sides (2,), seen, hip position, arms, rise)``; ``seen`` says
        whether this frame's own landmarks were there (not held from an earlier frame); ``arms``
        the more bent of the seen elbows in degrees (:data:`HOLDS_A_BAR` exercises; else NaN);
        ``rise`` how far the shoulders stand over the hips in torso lengths (:data:`LIES_DOWN`
        exercises; else NaN)."""
        lm = landmarks
        cfg = self.config
        self.missing = missing_parts(self.exercise, lm, cfg.part_visibility, cfg.part_margin)
        filled, _ = self._filler.step(t, lm)
        # Seen: the pose found the person on this frame (low visibility still counts: the far
        # side of a side view is always low, and its estimate is what there is).
        seen = lm is not None and bool(np.isfinite(lm[self._ids, :2]).all(axis=1).mean() >= 0.5)
        xyz = aspect_corrected(filled[None], image_size or self.image_size)
        # Body size: a high percentile of the recent per-frame estimates. Per frame it shrinks
        # with foreshortening during the rep itself, which would cancel the very heights and
        # drops it scales (a hip sinking while the thighs foreshorten).
        sc = float(body_scale(xyz)[0])
        if np.isfinite(sc):
            self._scales.append((t, sc))
        while self._scales and self._scales[0][0] < t - cfg.range_window_s:
            self._scales.popleft()
        if self._scale_t is None or t - self._scale_t >= 0.25 or not np.isfinite(self._scale):
            # a slow statistic: refreshed a few times a second
            vals = np.fromiter((v for _, v in self._scales), dtype=np.float64, count=len(self._scales))
            k = int(0.9 * (len(vals) - 1))
            new = float(np.partition(vals, k)[k]) if len(vals) else float("nan")
            if np.isfinite(new) and np.isfinite(self._scale) and new != self._scale:
                self._rescale(self._scale / new)
            self._scale = new
            self._scale_t = t
        scale = self._scale
        x, rel, sides = exercise_components(self.exercise, xyz, filled[None, :, 3], np.array([scale]))
        hips = xyz[0, [23, 24], 0]
        pos = float(np.mean(hips[np.isfinite(hips)])) if np.isfinite(hips).any() else float("nan")
        arms = float("nan")
        if self.exercise in HOLDS_A_BAR and lm is not None:
            # the seen arms only: a hidden far arm is BlazePose's guess
            vis = np.min(lm[[_BOTH["sho"], _BOTH["elb"], _BOTH["wri"]], 3], axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                bend = MEASURES["elbow_flexion"].fn(xyz, _BOTH, 1.0)[0]
                bend = bend[vis >= cfg.part_visibility]
            if np.isfinite(bend).any():
                arms = float(np.nanmax(bend))
        rise = float("nan")
        if self.exercise in LIES_DOWN and np.isfinite(scale) and scale > 0:
            # the shoulders over the hips: the shoulder drop's opposite, both sides' mean
            rise = -float(np.mean(MEASURES["shoulder_drop"].fn(xyz, _BOTH, scale)[0]))
        return x[0], rel[0], sides[0], seen, pos, arms, rise

    def _rescale(self, ratio: float) -> None:
        """The body scale changed: bring the remembered body-unit components to the new one,
        so that the estimate settling (or the person stepping closer) is not read as motion."""
        h, m = self._hist, self._scaled
        h.x[h.a:h.b, m] *= ratio
        for _, x, _ in self._raw:
            x[m] *= ratio

    def update(self, t: float, landmarks: np.ndarray | None, valid: bool = True,
               image_size: tuple[int, int] | None = None) -> list[Rep]:
        """Feed one frame: ``landmarks`` a validated ``(33, 4)`` float array (NaN for missing
        points; low-visibility ones are handled here), ``None`` when nobody is there;
        ``valid=False`` when the caller knows the frame is unusable. Returns the reps that
        ended on it."""
        if not np.isfinite(t) or (self._last_t is not None and t <= self._last_t):
            return []  # garbage or out-of-order time
        x, rel, sides, seen, pos, arms, rise = self.components_at(t, landmarks if valid else None, image_size)
        return self.push(t, x, sides, rel, seen=seen, pos=pos, arms=arms, rise=rise)

    def push(self, t: float, x: np.ndarray, sides=None, rel: np.ndarray | None = None,
             seen: bool = True, pos: float = float("nan"), arms: float = float("nan"),
             rise: float = float("nan")) -> list[Rep]:
        """Feed one frame's components (C,) (NaN = missing) and their reliabilities (default
        1); ``seen=False`` when they were held from an earlier frame; ``pos`` the hip centre
        across the image (isotropic image units). Returns the reps that ended."""
        cfg = self.config
        if self._last_t is not None and t <= self._last_t:
            return []
        x = np.array(x, dtype=np.float64)  # a copy: the smoothing buffer may rescale it
        rel = np.ones_like(x) if rel is None else np.asarray(rel, dtype=np.float64)
        gap = self._last_t is not None and t - self._last_t > cfg.max_gap_s
        if not np.isfinite(x).any():
            if gap:
                self._lose(t)
            return []
        if gap:
            self._lose(t)
        self._last_t = t

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
            # Causal median over smooth_s: a one- or two-frame glitch cannot cross a threshold.
            self._raw.append((t, x, rel))
            while self._raw[0][0] < t - cfg.smooth_s:
                self._raw.popleft()
            if len(self._raw) > 1:
                x = _nanquantile0(np.stack([r[1] for r in self._raw]), (0.5,))[0]
                rel = np.min(np.stack([r[2] for r in self._raw]), axis=0)

            hist = self._hist
            hist.append(t, x, rel, (np.nan, np.nan) if sides is None else sides, seen, pos, arms, rise)
            # (a rep in progress, or a pull from the floor not yet ended, stays whole)
            keep = self._start_t if self._phase == ACTIVE else None
            if self._phase != PENDING:
                hist.drop_before(t - cfg.range_window_s, keep)
            H, Rl = hist.X, hist.R  # (N, C)
            lo, hi = _nanquantile0(H, (cfg.lo_pct / 100, cfg.hi_pct / 100))
            rng = np.maximum(hi - lo, cfg.min_range)
            d2 = np.abs(H[2:] - 2 * H[1:-1] + H[:-2])
            n_d2 = np.isfinite(d2).sum(axis=0)
            noise = _nanquantile0(d2, (0.5,))[0] / 1.652 if len(d2) else np.full(H.shape[1], np.nan)
        # A component with too little history to know its noise gets a low weight for now.
        noise = np.where(n_d2 >= 3, np.maximum(noise, cfg.noise_floor), rng)
        span = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
        if self._dominant:
            w = self._pick_dominant(span, noise, np.mean(Rl, axis=0))
        else:
            # A component that stays still while another moves (the pelvis in a classic leg
            # raise) fades; at idle, when nothing has moved past min_range, all weigh alike.
            m = cfg.min_range
            w = (rng / noise) ** 2 * ((span + m) / (np.max(span) + m)) ** 2
        w[~np.isfinite(w) | ~np.isfinite(lo)] = 0.0
        if not w.sum() > 0:
            return []
        u = float(_fuse(x[None], lo, rng, w, rel[None])[0])
        if not np.isfinite(u):
            return []
        self.u, self.weights = u, w / w.sum()

        out: list[Rep] = []
        if self._phase == PENDING:
            out += self._pending(t, u, lo, hi, rng, w)
        if self._phase == BLOCKED:
            if u <= cfg.exit:
                self._phase = REST
        elif self._phase == REST:
            if u >= cfg.enter:
                self._phase = ACTIVE
                U = _fuse(H, lo, rng, w, Rl)
                T = hist.T
                below = np.nonzero(U[:-1] <= cfg.exit)[0]
                k = int(below[-1]) if len(below) else 0
                # Onset: back from there to the last moment near the floor of the rest before
                # (within the last 2 s, after the previous rep), so that the rep's window holds
                # the whole movement.
                j0 = int(np.searchsorted(T, max(T[k] - 2.0, self._end_t), side="left"))
                if j0 < k:
                    seg = U[j0:k + 1]
                    floor = np.nanmin(seg)
                    near = np.nonzero(seg <= floor + 0.1)[0]
                    k = j0 + int(near[-1]) if len(near) else k
                self._start_t = float(T[k])
                self._enter_t = t
        elif self._phase == ACTIVE:
            inside = np.nonzero(hist.T >= self._start_t)[0]
            # The whole excursion with the range as it is now (while it was under way the range
            # was still growing, which inflated the values seen then).
            U = _fuse(H[inside], lo, rng, w, Rl[inside])
            kmax = int(np.nanargmax(U))
            kmin = kmax + int(np.nanargmin(U[kmax:]))
            if u <= cfg.exit:
                self._phase = REST
                self._end_t = t
                out += self._finish(t, inside, U, lo, hi, w)
            elif ((self.count or self._hover) and U[kmax] - U[kmin] >= self._valley and u - U[kmin] >= cfg.rebound
                  and kmin < len(U) - 1):
                # Touch-and-go: down by half a range and up again without reaching rest (once a
                # rep has shown the range: before, a dip at the top of the first rep, measured
                # against a range learnt from that rep alone, looks like half of it). The
                # rep ended at the valley and the next one began there.
                end = int(inside[kmin])
                out += self._finish(float(hist.T[end]), inside[: kmin + 1], U[: kmin + 1], lo, hi, w)
                self._start_t = float(hist.T[end])
                self._enter_t = t
            elif t - self._start_t > cfg.max_rep_s:
                log.debug("%s: excursion longer than %.1f s dropped", self.exercise, cfg.max_rep_s)
                self._phase = BLOCKED
        return out

    def _pick_dominant(self, span: np.ndarray, noise: np.ndarray, rel: np.ndarray) -> np.ndarray:
        """``other``: weight 1 on the component that moves most (in nominal units, clearly
        above its own jitter, times how reliably this view shows it), 0 elsewhere; another
        takes over at rest (or before the first rep) and by ``dominant_switch`` times the
        current one's score."""
        clear = np.where(span >= self.config.dominant_snr * noise, span * rel ** 2, 0.0)
        best = int(np.argmax(clear))
        if self._pick < 0:
            self._pick = best
        elif ((self._phase != ACTIVE or not self.count)  # (before the first rep, any time)
              and clear[best] > self.config.dominant_switch * clear[self._pick]):
            log.debug("other: counting %s instead of %s", RECIPES[self.exercise][best].measure,
                      RECIPES[self.exercise][self._pick].measure)
            self._pick = best
        w = np.zeros_like(span)
        w[self._pick] = 1.0
        return w

    def _min_rep_s(self) -> float:
        """The shortest rep of this exercise (seconds)."""
        return max(self.config.min_rep_s, MIN_REP_S[self.exercise])

    def _pending(self, t: float, u: float, lo, hi, rng, w) -> list[Rep]:
        """Before the first rest of an exercise that may start at its working end: did the set
        start at rest (count as usual) or at the working end (the first pull from the floor
        counts once it reaches rest and settles there)?"""
        cfg = self.config
        hist = self._hist
        T = hist.T
        U = _fuse(hist.X, lo, rng, w, hist.R)
        N = _fuse(hist.X, lo, np.ones_like(lo), w, hist.R)  # the same in nominal units
        head = T <= T[0] + cfg.smooth_s
        if not np.isfinite(U[head]).any():
            return []
        u0 = float(np.nanmedian(U[head]))
        moved = float(N[-1] - np.nanmedian(N[head]))  # since the start, nominal units
        self._pending_end = None
        if (u0 <= cfg.exit and u >= cfg.enter and moved >= cfg.min_amplitude) or t - T[0] > cfg.max_rep_s:
            self._phase = REST  # started at rest (or nothing happened for long): count as usual
            return []
        if not (u0 >= cfg.enter and u <= cfg.exit and moved <= -cfg.min_amplitude):
            return []
        # The low of the latest way up (since the signal was last at the working end) must have
        # held for settle_s: a pull still under way keeps making new lows.
        above = np.nonzero(U >= cfg.enter)[0]
        since = int(above[-1]) + 1 if len(above) else 0
        if not np.isfinite(U[since:]).any():
            return []
        low = float(np.nanmin(U[since:]))
        reached = since + int(np.nonzero(U[since:] <= low + cfg.exit / 2)[0][0])
        if T[reached] - T[0] < self._min_rep_s():
            # up quicker than any pull: the lifter setting the hips at the bar (or a shaky first
            # lock-on); the pull is still to come, and it will reach a new low
            return []
        self._pending_end = (lo, hi, w)
        if t - T[reached] < cfg.settle_s:
            return []
        return self._end_pending(t)

    def _end_pending(self, t: float) -> list[Rep]:
        lo, hi, w = self._pending_end
        hist = self._hist
        idx = np.arange(len(hist))
        U = _fuse(hist.X, lo, np.maximum(hi - lo, self.config.min_range), w, hist.R)
        self._start_t = self._enter_t = float(hist.T[0])
        self._phase, self._end_t, self._pending_end = REST, t, None
        return self._finish(t, idx, U, lo, hi, w, from_start=True)

    def finish(self) -> list[Rep]:
        """End of the stream: a pull from the floor already back at rest but not yet settled
        (a clip cut at the lockout) counts; a rep still under way does not."""
        if self._phase == PENDING and self._pending_end is not None and self._last_t is not None:
            return self._end_pending(self._last_t)
        return []

    def _lose(self, t: float) -> None:
        """The person was lost for over ``max_gap_s``: the rep in progress is dropped, and the
        range is learnt afresh (back in view, they may stand elsewhere or turn to the camera)."""
        if self._phase == ACTIVE:
            log.debug("%s: person lost mid-rep at %.2f s, rep dropped", self.exercise, t)
        self._phase = PENDING if self._floor_start else BLOCKED
        self._pending_end = None
        self._last_exc = None
        self._raw.clear()
        self._hist = _History(len(RECIPES[self.exercise]))

    def _side_of(self, idx: np.ndarray, j: int) -> int:
        """Which side did the rep of history samples ``idx`` peaking at ``idx[j]``: 0 left, 1
        right, 2 both (``BOTH_SIDES_AT_ONCE``: the other side rose at least ``both_ratio`` as
        much), -1 two-sided or unknown. A side's rise is its value at the peak over its lowest
        before; a constant bias of the view (a far arm's angle seen obliquely) cancels."""
        if not self._one_sided:
            return -1
        # from a second before the onset: the onset can lag the side's own start (the fused
        # signal waits while an angle passes through foreshortening)
        T = self._hist.T
        k0 = int(np.searchsorted(T, T[idx[0]] - 1.0, side="left"))
        S = self._hist.SIDES[k0: int(idx[j]) + 1]
        ok = np.isfinite(S).any(axis=0) & np.isfinite(S[-1])
        if not ok.any():
            return -1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rise = np.where(ok, S[-1] - np.nanmin(S, axis=0), -np.inf)
        ps = int(np.argmax(rise))
        if (self.exercise in BOTH_SIDES_AT_ONCE and ok.all() and rise[ps] > 0
                and rise.min() >= self.config.both_ratio * rise[ps]):
            return 2
        return ps

    def _finish(self, t, idx, U, lo, hi, w, from_start: bool = False) -> list[Rep]:
        """Judge the excursion of history samples ``idx`` (fused values ``U``) ending at ``t``;
        ``from_start``: it was under way when counting began (a pull from the floor). Returns
        the reps it counts: none, itself, or a small excursion held before it and itself."""
        cfg = self.config
        j = int(np.nanargmax(U))
        k = int(idx[j])
        peak_u = float(U[j])
        hist = self._hist
        amp = float(_fuse(hist.X[k:k + 1], lo, np.ones_like(lo), w, hist.R[k:k + 1])[0])  # nominal units
        ps = self._side_of(idx, j)
        # One-sided exercises seen obliquely show one side's reps smaller than the other's:
        # each side is compared with its own recent reps (its first rep sets the scale).
        key = ps if self._one_sided else -1
        past = self._depths.setdefault(key, deque(maxlen=cfg.typical_reps))
        while past and past[0][0] < t - cfg.typical_memory_s:
            past.popleft()
        if self._one_sided:
            typical = float(np.median([d for _, d in past])) if past else peak_u
        else:
            typical = max(1.0, float(np.median([d for _, d in past]))) if past else 1.0
        depth = peak_u / typical
        # how far it rose from, and fell back to, the higher of its two ends (a pull from the
        # floor has only its end)
        ends = (float(U[-1]), 0.0) if from_start else (float(U[0]), float(U[-1]), 0.0)
        prominence = (peak_u - max(ends)) / typical
        dur = t - self._start_t
        if not self._min_rep_s() <= dur <= cfg.max_rep_s or t - self._enter_t < cfg.min_active_s:
            log.debug("%s: excursion of %.2f s (%.2f s past enter) ignored (duration)",
                      self.exercise, dur, t - self._enter_t)
            return []
        observed = float(np.mean(hist.SEEN[idx])) if len(idx) else 0.0
        if observed < cfg.min_observed:
            log.debug("%s: excursion with %.0f%% of its frames observed ignored (held through a dropout)",
                      self.exercise, 100 * observed)
            return []
        least = cfg.min_amplitude_repeated if self.exercise in PARTIAL_SETS else cfg.min_amplitude
        if amp < least or depth < cfg.count_depth or prominence < cfg.count_depth - cfg.exit:
            log.debug("%s: excursion of depth %.2f, prominence %.2f, amplitude %.2f ignored (too small)",
                      self.exercise, depth, prominence, amp)
            return []
        pos = hist.POS[idx]
        pos = pos[np.isfinite(pos)]
        # robust to a glitching frame: the spread of the middle 80%, in torso units now
        travel = float(np.diff(np.percentile(pos, (10, 90)))[0]) / self._scale if len(pos) else 0.0
        if travel > cfg.max_travel:
            log.debug("%s: excursion travelling %.1f torso units ignored (walking)", self.exercise, travel)
            return []
        if self.exercise in HOLDS_A_BAR:
            # the way up (peak to end): a bar hangs from straight arms
            bend = _finite_median(hist.ARMS[idx[j:]])
            if bend > cfg.max_pull_elbow_deg:
                log.debug("%s: a way up with the elbows bent (median %.0f deg) ignored (hands free, no bar)",
                          self.exercise, bend)
                return []
        if self.exercise in LIES_DOWN:
            rise = _finite_median(hist.RISE[idx])
            if rise > cfg.max_lying_torso_rise:
                log.debug("%s: excursion with the torso upright (shoulders %.2f torso lengths over the "
                          "hips) ignored (not lying down)", self.exercise, rise)
                return []
        side = {0: "left", 1: "right", 2: "both"}.get(ps, "")
        rep = Rep(exercise=self.exercise, index=0, start_t=self._start_t,
                  peak_t=float(hist.T[k]), end_t=t, depth=float(depth), amplitude=amp,
                  range_lo=float(np.nansum(lo * w) / w.sum()), range_hi=float(np.nansum(hi * w) / w.sum()),
                  full=bool(depth >= cfg.full_depth), side=side)
        # A small excursion is a rep when the one before it moved alike: one bob of the knees
        # is fidgeting, a series of them is a set of partial reps. The first of the series is
        # held until the second confirms it.
        prev = self._last_exc
        alike = (prev is not None and self._start_t - prev.end_t <= cfg.max_rep_s
                 and min(prev.amplitude, amp) >= cfg.repeat_ratio * max(prev.amplitude, amp))
        if amp < cfg.min_amplitude and t - self._start_t < cfg.min_partial_rep_s:
            log.debug("%s: small excursion of %.2f s ignored (a step's pace, not a rep's)",
                      self.exercise, t - self._start_t)
            return []
        if amp < cfg.min_amplitude and not alike:
            log.debug("%s: excursion of amplitude %.2f held until a like one follows", self.exercise, amp)
            self._last_exc = _Excursion(t, amp, rep, key, peak_u)
            return []
        out = []
        if alike and prev.held is not None:
            out.append(self._count(prev.held, prev.key, prev.peak_u))
        out.append(self._count(rep, key, peak_u))
        self._last_exc = _Excursion(t, amp, None, key, peak_u)
        return out

    def _count(self, rep: Rep, key: int, peak_u: float) -> Rep:
        self._depths.setdefault(key, deque(maxlen=self.config.typical_reps)).append((rep.end_t, peak_u))
        self.count += 1
        return replace(rep, index=self.count)


# ---- offline -------------------------------------------------------------------------------

@dataclass
class RepTrace:
    """What :func:`count_reps` saw, for plots and evaluation."""

    t: np.ndarray
    u: np.ndarray  # fused normalised signal per frame (NaN where missing)
    components: np.ndarray  # (T, C) raw components
    reps: list[Rep] = field(default_factory=list)


def count_reps(t, landmarks, exercise: str, image_size=None, config: RepConfig | None = None,
               trace: bool = False) -> list[Rep] | tuple[list[Rep], RepTrace]:
    """Count the reps of a recorded sequence (``t`` (T,), ``landmarks`` (T, 33, 4), NaN where
    a point or the person was not found) exactly as the station would, frame by frame, the
    stream's end included."""
    t = np.asarray(t, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.ndim != 3 or lm.shape[1:] != (NUM_LANDMARKS, 4) or len(lm) != len(t):
        raise ValueError(f"landmarks must be (T, 33, 4) with T = len(t) = {len(t)}, got {lm.shape}")
    counter = RepCounter(exercise, config, image_size=image_size)
    reps: list[Rep] = []
    uu = np.full(len(t), np.nan)
    comps = np.full((len(t), len(RECIPES[exercise])), np.nan)
    for i in range(len(t)):
        if not np.isfinite(t[i]) or (counter._last_t is not None and t[i] <= counter._last_t):
            continue
        person = lm[i] if np.isfinite(lm[i, :, :2]).any() else None
        x, rel, sides, seen, pos, arms, rise = counter.components_at(float(t[i]), person)
        comps[i] = x
        before = counter._last_t
        reps += counter.push(float(t[i]), x, sides, rel, seen=seen, pos=pos, arms=arms, rise=rise)
        if counter._last_t != before:
            uu[i] = counter.u
    reps += counter.finish()
    if trace:
        return reps, RepTrace(t=t, u=uu, components=comps, reps=reps)
    return reps
