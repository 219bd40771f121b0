"""Every condition of every exercise as a measured quantity over one rep (pure numpy, no I/O).

A :class:`ConditionDef` is data: what is measured, its unit, the joints it reads, the views
that can observe it, which direction is a fault, the name of its threshold and the cue that
says what was measured. Its function maps a :class:`RepData` (the rep's frames, body scale,
view) to one number, or None when the joints it needs were not seen well enough. Sources of
the definitions and the reasons for each threshold: docs/conditions.md.

Vertical distances are used wherever possible: a segment's vertical extent does not depend on
the camera's yaw, so depth, arm height or knee lift read the same from the front and the side.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..exercises import EXERCISES, ROM
from .view import BACK, FRONT, OBLIQUE, SIDE, View

ALL_VIEWS = frozenset({FRONT, OBLIQUE, SIDE, BACK})
FRONTAL = frozenset({FRONT, BACK, OBLIQUE})  # the frontal plane is visible
SAGITTAL = frozenset({SIDE, OBLIQUE})  # the sagittal plane is visible

PARTS = {
    "left": dict(ear=7, sho=11, elb=13, wri=15, hip=23, kne=25, ank=27, hee=29, toe=31),
    "right": dict(ear=8, sho=12, elb=14, wri=16, hip=24, kne=26, ank=28, hee=30, toe=32),
}
SIDES = ("left", "right")
HAND = {"left": [17, 19, 21], "right": [18, 20, 22]}  # pinky, index, thumb
# Typical foot length (heel to toe tip) over torso length, for heel rise seen foreshortened.
FOOT_RATIO = 0.45


# ---- the rep's frames ---------------------------------------------------------------------------

@dataclass
class RepData:
    """One rep's frames in isotropic image units (x scaled by the aspect ratio, y down)."""

    exercise: str
    t: np.ndarray  # (T,)
    p: np.ndarray  # (T, 33, 3)
    ok: np.ndarray  # (T, 33) finite, visible enough, inside the frame
    scale: float  # body size: one torso length in image units
    view: View
    min_coverage: float = 0.6
    working: str = ""  # one-sided exercises: the side that moved most
    arm: str = ""  # a one-arm rep (alternating dumbbells): the arm that worked; "" for both

    @property
    def n(self) -> int:
        return len(self.t)

    def usable(self, side: str, parts: tuple[str, ...]) -> bool:
        ids = [PARTS[side][q] for q in parts]
        frac = float(self.ok[:, ids].all(axis=1).mean()) if self.n else 0.0
        return self.n >= 3 and frac >= self.min_coverage

    def xy(self, side: str, part: str) -> np.ndarray:
        """(T, 2) with NaN on frames where the point is not usable."""
        i = PARTS[side][part]
        out = self.p[:, i, :2].copy()
        out[~self.ok[:, i]] = np.nan
        return out

    def mid(self, part: str) -> np.ndarray:
        return (self.xy("left", part) + self.xy("right", part)) / 2

    def rest(self) -> np.ndarray:
        """Frames near the start and the end of the rep (the counter's onset and return)."""
        k = max(1, round(0.15 * self.n))
        m = np.zeros(self.n, bool)
        m[:k] = True
        m[-k:] = True
        return m


def median3(x: np.ndarray) -> np.ndarray:
    """A 3-frame running median along time (NaN-aware): one-frame glitches do not make extremes."""
    if len(x) < 3:
        return x
    st = np.stack([np.r_[x[:1], x[:-1]], x, np.r_[x[1:], x[-1:]]], 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(st, axis=0)


def pct(x: np.ndarray, q: float) -> float:
    """The q-th percentile of the finite values of ``x`` (NaN when there are none)."""
    x = x[np.isfinite(x)]
    return float(np.percentile(x, q)) if len(x) else float("nan")


def _len(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def _seg_len(r: RepData, side: str, a: str, b: str) -> float:
    """A segment's true length: its longest 2-D extent over the rep (projection only shortens)."""
    return pct(_len(r.xy(side, a), r.xy(side, b)), 95)


def _angle(a: np.ndarray, v: np.ndarray, c: np.ndarray) -> np.ndarray:
    u, w = a - v, c - v
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(u * w, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _tilt(v: np.ndarray) -> np.ndarray:
    """Signed angle of an image vector from straight up, degrees (positive: towards +x)."""
    return np.degrees(np.arctan2(v[:, 0], -v[:, 1]))


def _rise(r: RepData, side: str, lo: str, hi: str) -> np.ndarray:
    """How far ``hi`` sits above ``lo`` in lengths of the segment lo-hi: the sine of the
    segment's elevation above horizontal, the same from any camera yaw."""
    L = _seg_len(r, side, lo, hi)
    return median3((r.xy(side, lo)[:, 1] - r.xy(side, hi)[:, 1]) / L)


def _asin_deg(x: float) -> float:
    return math.degrees(math.asin(max(-1.0, min(1.0, x))))


# ---- measures: fn(rep, side) -> value for that side (NaN when unknown) ------------------------

def m_hip_height_over_knee(r, s):
    """Lowest hip height above the knee over the rep, as the thigh's angle above horizontal
    (degrees; negative = hip below the knee)."""
    return _asin_deg(pct(_rise(r, s, "kne", "hip"), 3))


def m_knee_lift(r, s):
    """Highest thigh elevation (hip to knee) over the rep, degrees from horizontal
    (0 = thigh horizontal, -90 = hanging)."""
    return _asin_deg(pct(_rise(r, s, "hip", "kne"), 97))


# A lying leg's rest direction seen within 60° of end-on (|cos| below this) says nothing of its
# elevation: it rises towards or away from the camera.
END_ON = 0.5


def m_thigh_elevation_lying(r, s):
    """Highest thigh elevation over the rep, lying on the back (degrees above the floor; 90 =
    vertical, past 90 = knees over the hips), from the thigh's *direction* in the picture
    against its direction at rest. A camera looking down at a mat shortens a raised leg's
    vertical extent (a length ratio reads a vertical thigh 15-25° low) but not its direction in
    a side-on view. NaN when the leg at rest points within 60° of the camera (END_ON)."""
    v = r.xy(s, "kne") - r.xy(s, "hip")
    L = _seg_len(r, s, "hip", "kne")
    rest = v[r.rest()]
    fwd = pct(rest[:, 0], 50)
    if not (np.isfinite(fwd) and L > 0 and abs(fwd) / L >= END_ON):
        return float("nan")
    ang = np.degrees(np.arctan2(-v[:, 1], v[:, 0] * np.sign(fwd)))
    return pct(median3(ang), 97)


def m_forearm_rise(r, s):
    """Highest forearm elevation above horizontal over the rep (degrees): elbow to wrist, or
    elbow to the hand's points where those rise higher (a bar in front of the wrist at the top
    of a curl pulls BlazePose's wrist point down the forearm, not the whole hand)."""
    best = pct(_rise(r, s, "elb", "wri"), 97)
    elb = r.xy(s, "elb")
    hand = np.nanmean(np.stack([r.p[:, i, :2] for i in HAND[s]]), 0)
    hand[~r.ok[:, HAND[s]].all(axis=1)] = np.nan
    L = pct(_len(elb, hand), 95)
    if np.isfinite(hand).any() and L > 0:
        best = np.nanmax([best, pct(median3((elb[:, 1] - hand[:, 1]) / L), 97)])
    return _asin_deg(best)


def m_upper_arm_rise(r, s):
    """Highest upper-arm elevation above horizontal over the rep (degrees): shoulder to elbow."""
    return _asin_deg(pct(_rise(r, s, "sho", "elb"), 97))


def m_elbow_extension_top(r, s):
    """Straightest elbow over the rep: 180 minus the interior angle at its most open (degrees
    short of straight)."""
    ang = median3(_angle(r.xy(s, "sho"), r.xy(s, "elb"), r.xy(s, "wri")))
    return 180.0 - pct(ang, 97)


def m_elbow_angle_range(r, s):
    """Change of the elbow's interior angle over the rep (degrees)."""
    ang = median3(_angle(r.xy(s, "sho"), r.xy(s, "elb"), r.xy(s, "wri")))
    return pct(ang, 95) - pct(ang, 5)


def m_knee_flexion_peak(r, s):
    """Deepest knee bend over the rep: 180 minus the smallest interior angle (degrees)."""
    ang = median3(_angle(r.xy(s, "hip"), r.xy(s, "kne"), r.xy(s, "ank")))
    return 180.0 - pct(ang, 3)


def m_knee_flexion_range(r, s):
    ang = median3(_angle(r.xy(s, "hip"), r.xy(s, "kne"), r.xy(s, "ank")))
    return pct(ang, 95) - pct(ang, 5)


# A hip still opening faster than this (deg/s) at the rep's last frames has not finished the
# pull: the lockout lies after the span, so it is not judged from it.
STILL_RISING_DEG_S = 40.0


def m_hip_extension_top(r, s):
    """Most open hip over the rep: 180 minus the largest shoulder-hip-knee angle (degrees short
    of standing straight); undefined when the span ends while the hip is still opening, or
    when the hip is not seen at the span's end (the lockout: the largest angle of the frames
    seen would be an earlier, bent one)."""
    ang = median3(_angle(r.xy(s, "sho"), r.xy(s, "hip"), r.xy(s, "kne")))
    k = max(3, round(0.15 * r.n))
    tail, tt = ang[-k:], r.t[-k:]
    ok = np.isfinite(tail)
    if ok.sum() < 2:
        return float("nan")
    if tt[ok][-1] > tt[ok][0]:
        slope = (tail[ok][-1] - tail[ok][0]) / (tt[ok][-1] - tt[ok][0])
        if slope > STILL_RISING_DEG_S:
            return float("nan")
    return 180.0 - pct(ang, 97)


def m_hip_flexion_peak(r, s):
    """Largest hip flexion (degrees): legs raised towards the trunk."""
    ang = median3(_angle(r.xy(s, "sho"), r.xy(s, "hip"), r.xy(s, "kne")))
    return 180.0 - pct(ang, 3)


def m_knee_valgus(r, s):
    """Knees caving in at depth, in hip widths: how far the knee (relative to its foot, towards
    the midline between the ankles) moves in from its widest on the way down to its narrowest
    from the bottom up, over the rep's lower half; knees that track over the feet stay out."""
    other = "right" if s == "left" else "left"
    kne, ank, toe = r.xy(s, "kne"), r.xy(s, "ank"), r.xy(s, "toe")
    hw = pct(_len(r.xy("left", "hip"), r.xy("right", "hip")), 50)
    if not hw > 0.05 * r.scale:
        return float("nan")
    mid = (ank[:, 0] + r.xy(other, "ank")[:, 0]) / 2
    foot = (ank[:, 0] + toe[:, 0]) / 2  # the foot line: ankle to toes (toes turned out count)
    out = median3((np.abs(kne[:, 0] - mid) - np.abs(foot - mid)) / hw)
    hip_y = median3(r.mid("hip")[:, 1])
    if np.isfinite(hip_y).sum() < 3 or np.isfinite(out).sum() < 3:
        return float("nan")
    j = int(np.nanargmax(hip_y))  # the bottom (image y points down)
    low = hip_y >= pct(hip_y, 50)
    k = np.arange(r.n)
    down, up = low & (k <= j), low & (k >= j)
    if not (np.isfinite(out[down]).any() and np.isfinite(out[up]).any()):
        return float("nan")
    # widest on the way down against narrowest from the bottom up, both in the lower half
    return pct(out[down], 90) - pct(out[up], 10)


def m_heel_rise(r, s):
    """Heel lifted relative to the toes at the bottom of the rep, in foot lengths (sine of the
    foot's pitch), against the rep's start and end; negative values are the toes rising.

    The bottom is the frames with the hips lowest (their lowest quarter): heels come up at
    depth, where the ankles run out of bend. A fast descent blurs the feet, and BlazePose's foot
    points jump for a few frames there, so the rep's extremes are no measure of the heels."""
    hee, toe = r.xy(s, "hee"), r.xy(s, "toe")
    up = median3((toe[:, 1] - hee[:, 1]) / (FOOT_RATIO * r.scale))
    hip_y = r.mid("hip")[:, 1]  # image y points down: the largest is the lowest
    if np.isfinite(hip_y).sum() < 3:
        return float("nan")
    bottom = hip_y >= pct(hip_y, 75)
    return pct(up[bottom], 50) - pct(up[r.rest()], 50)


def m_heel_rise_top(r, s):
    """Heel height over the toes at the top of a pull (the frames with the hip most open), in
    foot lengths, absolute: a floor pull starts with the feet behind the plates, so the rep
    has no trusted flat-footed rest frame; standing tall, a flat foot reads about zero."""
    hee, toe = r.xy(s, "hee"), r.xy(s, "toe")
    L = _seg_len(r, s, "hee", "toe")
    up = median3((toe[:, 1] - hee[:, 1]) / L)
    ang = median3(_angle(r.xy(s, "sho"), r.xy(s, "hip"), r.xy(s, "kne")))
    if np.isfinite(ang).sum() < 3:
        return float("nan")
    top = ang >= pct(ang, 75)
    return pct(up[top], 50)


def _trunk_tilt(r: RepData) -> np.ndarray:
    """Signed trunk angle from vertical (degrees), positive towards the way the person faces
    in a side view (their nose side); hip midpoint to shoulder midpoint."""
    hip = np.nanmean(np.stack([r.xy(s, "hip") for s in SIDES]), 0)
    sho = np.nanmean(np.stack([r.xy(s, "sho") for s in SIDES]), 0)
    tilt = _tilt(sho - hip)
    nose = r.p[:, 0, 0] - sho[:, 0]
    facing = np.sign(np.nanmedian(nose)) if np.isfinite(nose).any() else 1.0
    return median3(tilt * (facing or 1.0))


# A standing lifter's trunk cannot swing this far within one curl, press or raise: the trunk
# would pass horizontal. A larger excursion is the pose jumping (a lost lock-on, a flipped
# torso), and the trunk measures are then undefined rather than a cue.
MAX_TRUNK_EXCURSION_DEG = 90.0
TRUNK_JUMPED = ("the trunk's angle jumped further than a standing trunk can swing in one rep "
                f"(over {MAX_TRUNK_EXCURSION_DEG:.0f}°): the pose was lost")


def _trunk_excursion(tt: np.ndarray) -> float:
    """Largest minus smallest lean of a trunk tilt series (degrees)."""
    return pct(tt, 95) - pct(tt, 5)


def m_trunk_swing(r, s):
    """Trunk angle excursion over the rep (degrees): largest minus smallest lean."""
    swing = _trunk_excursion(_trunk_tilt(r))
    return float("nan") if swing > MAX_TRUNK_EXCURSION_DEG else swing


def m_trunk_lean_back(r, s):
    """Largest backward lean relative to the lean at rest (degrees)."""
    tt = _trunk_tilt(r)
    if _trunk_excursion(tt) > MAX_TRUNK_EXCURSION_DEG:
        return float("nan")
    return pct(tt[r.rest()], 50) - pct(tt, 5)


def m_trunk_side_bend(r, s):
    """Sideways bend of the trunk (frontal view) at its most, degrees from rest."""
    hip = r.mid("hip")
    sho = r.mid("sho")
    tt = median3(_tilt(sho - hip))
    base = pct(tt[r.rest()], 50)
    return max(abs(pct(tt, 97) - base), abs(pct(tt, 3) - base))


def m_shrug(r, s):
    """Shoulder-to-ear distance lost over the rep (along the trunk), in torso lengths."""
    d = median3(_len(r.xy(s, "ear"), r.xy(s, "sho")) / r.scale)
    return pct(d[r.rest()], 50) - pct(d, 5)


def m_elbow_travel(r, s):
    """Elbow displacement relative to the shoulder, in the trunk's frame, at its farthest from
    rest, in upper-arm lengths."""
    sho, elb = r.xy(s, "sho"), r.xy(s, "elb")
    hip = r.xy(s, "hip")
    ax = sho - hip
    n = np.linalg.norm(ax, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        up = ax / n
    across = np.stack([-up[:, 1], up[:, 0]], -1)
    e = elb - sho
    local = np.stack([np.sum(e * up, -1), np.sum(e * across, -1)], -1)
    L = _seg_len(r, s, "sho", "elb")
    base = np.nanmedian(local[r.rest()], axis=0)
    dist = median3(_len(local, base[None]) / L)
    return pct(dist, 95)


def m_hip_dip(r, s):
    """Hips dropping (knees bending) during the rep and coming back, in leg lengths: the hip
    height against the straight line from its start to its end, so a camera drifting or a
    person settling over the rep is not a dip."""
    hip = r.xy(s, "hip")[:, 1]
    L = pct(_len(r.xy(s, "hip"), r.xy(s, "kne")), 95) + pct(_len(r.xy(s, "kne"), r.xy(s, "ank")), 95)
    return _peak_over_ends(median3(hip / L))


def _peak_over_ends(y: np.ndarray) -> float:
    """How far ``y`` rises over the straight line from its value at the rep's start to its
    value at the end (medians of the first and last 15%): its 97th percentile above that line."""
    k = max(1, round(0.15 * len(y)))
    y0, y1 = pct(y[:k], 50), pct(y[-k:], 50)
    base = y0 + (y1 - y0) * np.linspace(0.0, 1.0, len(y))
    return pct(y - base, 97)


def m_pelvis_lift(r, s):
    """The pelvis rising off the mat during a lying rep, in torso lengths: the hip's height in
    the picture against the straight line from the rep's start to its end (the pelvis is down at
    both), highest over the rep. Lying, the hips rise only by leaving the floor, and a rise is
    vertical in the picture from any camera yaw; the camera is assumed to stand still."""
    return _peak_over_ends(median3(-r.xy(s, "hip")[:, 1] / r.scale))


def m_press_height(r, s):
    """Highest wrist over the shoulder, in arm lengths (shoulder-elbow plus elbow-wrist): 1 is
    an arm straight overhead, from any camera yaw."""
    L = _seg_len(r, s, "sho", "elb") + _seg_len(r, s, "elb", "wri")
    h = median3((r.xy(s, "sho")[:, 1] - r.xy(s, "wri")[:, 1]) / L)
    return pct(h, 97)


def m_forearm_tilt_bottom(r, s):
    """Forearm angle from vertical at the rep's bottom (degrees): the pressing position."""
    v = r.xy(s, "wri") - r.xy(s, "elb")
    tilt = np.abs(median3(_tilt(v)))
    return pct(tilt[r.rest()], 50)


def m_knee_elbow_gap(r, s):
    """Closest the knee comes to the same side's elbow, in torso lengths."""
    d = median3(_len(r.xy(s, "kne"), r.xy(s, "elb")) / r.scale)
    return pct(d, 3)


def m_wrists_low(r, s):
    """Lowest wrist height relative to the ears over the rep (torso lengths below the ear;
    hands behind the head keep it near zero or above)."""
    d = median3((r.xy(s, "wri")[:, 1] - r.xy(s, "ear")[:, 1]) / r.scale)
    return pct(d, 95)


def m_bar_distance(r, s):
    """Largest horizontal distance of the wrist ahead of the ankle (towards the toes), in
    torso lengths: the bar drifting away from the legs."""
    wri, ank, toe = r.xy(s, "wri"), r.xy(s, "ank"), r.xy(s, "toe")
    fwd = np.sign(pct(toe[:, 0] - ank[:, 0], 50)) or 1.0
    d = median3((wri[:, 0] - ank[:, 0]) * fwd / r.scale)
    return pct(d, 95)


def m_hips_first(r, s):
    """Knees straightening ahead of the hips on the way up: the largest lead of the knee's
    progress (0..1 of its range) over the hip's during the rep's rising half."""
    ka = median3(_angle(r.xy(s, "hip"), r.xy(s, "kne"), r.xy(s, "ank")))
    ha = median3(_angle(r.xy(s, "sho"), r.xy(s, "hip"), r.xy(s, "kne")))
    if not (np.isfinite(ka).sum() > 5 and np.isfinite(ha).sum() > 5):
        return float("nan")
    j = int(np.nanargmin(ha))
    up = slice(j, r.n)

    def prog(a):
        lo, hi = pct(a, 3), pct(a, 97)
        return (a[up] - lo) / max(hi - lo, 5.0)

    return pct(prog(ka) - prog(ha), 90)


# ---- conditions as data -----------------------------------------------------------------------

@dataclass(frozen=True)
class ConditionDef:
    exercise: str
    key: str  # the condition key (exercises.py) it judges
    quantity: str  # what is measured, in words
    unit: str
    parts: tuple[str, ...]  # joints per side it reads (PARTS names)
    views: frozenset[str]  # views that can observe it
    fault: str  # "above": a value above the threshold fails; "below": below fails
    threshold: str  # config key, e.g. "squat.depth"
    cue: str  # format string with {value}
    fn: Callable[[RepData, str], float]
    # mean of usable sides | worst | working (one-sided exercises) | arms (mean of both arms, or
    # only the working arm of a one-arm rep: the hanging arm says nothing about the rep)
    sides: str = "mean"
    threshold_hi: str = ""  # optional second bound: values above it also fail (a band)
    cue_hi: str = ""
    # (view, config key) pairs: views whose projection biases the measure read against their own
    # threshold (a thigh seen from the front reads its angle plus the camera's elevation)
    view_thresholds: tuple[tuple[str, str], ...] = ()
    # config key: judged only within this many degrees of side-on (a flat foot seen turned
    # towards or away from a camera above it reads tilted, by about cot(yaw) x tan(elevation))
    side_within: str = ""
    undefined: str = "measure undefined on this rep's landmarks"  # why a NaN value is not judged

    @property
    def id(self) -> str:
        return f"{self.exercise}.{self.key}"


def _c(ex, key, quantity, unit, parts, views, fault, threshold, cue, fn, **kw) -> ConditionDef:
    return ConditionDef(ex, key, quantity, unit, tuple(parts), frozenset(views), fault, threshold,
                        cue, fn, **kw)


LEGS = ("hip", "kne", "ank")
CONDITIONS: tuple[ConditionDef, ...] = (
    # squat
    _c("squat", ROM, "depth: the thigh's angle above horizontal at the bottom (hip above knee)",
       "deg", ("hip", "kne"), ALL_VIEWS, "above", "squat.depth",
       "go deeper — hips stopped above the knees (thighs {value:.0f}° above parallel)",
       m_hip_height_over_knee, view_thresholds=((FRONT, "squat.depth_front"), (BACK, "squat.depth_front"),
                                                 (OBLIQUE, "squat.depth_oblique"))),
    _c("squat", "knees_in_line", "knee inside the foot line at depth", "hip widths", ("kne", "ank", "toe", "hip"),
       {FRONT, BACK}, "above", "squat.knee_valgus",
       "knees caved in at the bottom — they moved {value:.2f} hip widths inwards", m_knee_valgus,
       sides="worst"),
    _c("squat", "heels_down", "heel rise relative to the toes at the bottom", "foot lengths", ("hee", "toe", "hip"),
       SAGITTAL, "above", "squat.heel_rise",
       "keep heels down — heels rose {value:.2f} foot lengths", m_heel_rise),
    # deadlift
    _c("deadlift", ROM, "lockout: hip angle short of straight at the top", "deg", ("sho", "hip", "kne"),
       SAGITTAL, "above", "deadlift.lockout",
       "stand all the way up — hips stopped {value:.0f}° short of straight", m_hip_extension_top,
       undefined="the lockout was not seen: the rep ended while the hips were still opening, "
                 "or the hips and knees were out of view at its end"),
    _c("deadlift", "feet_flat", "heel height over the toes at lockout", "foot lengths",
       ("hee", "toe", "sho", "hip", "kne"), {SIDE}, "above", "deadlift.heel_rise",
       "keep feet flat — heels were {value:.2f} foot lengths up at the top", m_heel_rise_top,
       side_within="deadlift.heel_side_within"),
    _c("deadlift", "knees_over_toes", "knee inside the foot line at depth", "hip widths",
       ("kne", "ank", "toe", "hip"),
       {FRONT, BACK}, "above", "deadlift.knee_valgus",
       "knees over toes — they moved {value:.2f} hip widths inwards", m_knee_valgus,
       sides="worst"),
    _c("deadlift", "bar_close", "hands ahead of the ankle", "torso lengths", ("wri", "ank", "toe"),
       {SIDE}, "above", "deadlift.bar_distance",
       "keep the bar close — hands drifted {value:.2f} torso lengths ahead of the ankles", m_bar_distance),
    _c("deadlift", "hips_knees_together", "knees straightening ahead of the hips", "share of range",
       ("sho", "hip", "kne", "ank"), {SIDE}, "above", "deadlift.knee_lead",
       "extend knees and hips together — knees led by {value:.0%}", m_hips_first),
    # barbell curl
    _c("barbell_curl", ROM, "forearm elevation at the top (above horizontal)", "deg", ("elb", "wri"),
       ALL_VIEWS, "below", "barbell_curl.top",
       "curl all the way up — forearms stopped {value:.0f}° above horizontal", m_forearm_rise, sides="arms"),
    _c("barbell_curl", "elbows_still", "elbow travel relative to the shoulder, in the trunk's frame",
       "upper-arm lengths", ("sho", "elb", "hip"), ALL_VIEWS, "above", "barbell_curl.elbow_travel",
       "keep your elbows still — they travelled {value:.2f} upper-arm lengths", m_elbow_travel, sides="arms"),
    _c("barbell_curl", "back_neutral", "trunk swing: lean excursion over the rep", "deg",
       ("sho", "hip"), SAGITTAL, "above", "barbell_curl.trunk_swing",
       "keep your back still — the trunk swung {value:.0f}°", m_trunk_swing, undefined=TRUNK_JUMPED),
    _c("barbell_curl", "no_shrug", "shoulder-to-ear distance lost at the top", "torso lengths",
       ("ear", "sho"), ALL_VIEWS, "above", "barbell_curl.shrug",
       "don't shrug — shoulders rose {value:.2f} torso lengths towards the ears", m_shrug),
    # overhead press
    _c("overhead_press", ROM, "lockout: wrist height over the shoulder at the top", "arm lengths",
       ("sho", "elb", "wri"), ALL_VIEWS, "below", "overhead_press.lockout",
       "lock your arms out — hands reached only {value:.0%} of arm length over the shoulders",
       m_press_height, sides="arms"),
    _c("overhead_press", "no_leg_drive", "hips dipping (knee bend) during the press", "leg lengths",
       ("hip", "kne", "ank"), ALL_VIEWS, "above", "overhead_press.leg_dip",
       "no leg drive — hips dipped {value:.2f} leg lengths", m_hip_dip),
    _c("overhead_press", "back_neutral", "leaning back during the press", "deg", ("sho", "hip"),
       SAGITTAL, "above", "overhead_press.lean_back",
       "keep your back neutral — leaned back {value:.0f}°", m_trunk_lean_back, undefined=TRUNK_JUMPED),
    _c("overhead_press", "shoulders_set", "shoulder-to-ear distance lost (shrug)", "torso lengths",
       ("ear", "sho"), ALL_VIEWS, "above", "overhead_press.shrug",
       "keep shoulders set — they rose {value:.2f} torso lengths", m_shrug),
    _c("overhead_press", "forearms_vertical", "forearm angle from vertical at the bottom", "deg",
       ("elb", "wri"), {FRONT, BACK}, "above", "overhead_press.forearm_tilt",
       "forearms vertical — they leaned {value:.0f}° at the bottom", m_forearm_tilt_bottom, sides="arms"),
    # side raise
    _c("side_raise", ROM, "upper-arm elevation at the top (above horizontal)", "deg", ("sho", "elb"),
       ALL_VIEWS, "below", "side_raise.top",
       "raise to shoulder height — upper arms stopped {value:.0f}° from horizontal", m_upper_arm_rise, sides="arms"),
    _c("side_raise", "no_shrug", "shoulder-to-ear distance lost at the top", "torso lengths",
       ("ear", "sho"), ALL_VIEWS, "above", "side_raise.shrug",
       "don't shrug — shoulders rose {value:.2f} torso lengths towards the ears", m_shrug),
    _c("side_raise", "elbow_angle_fixed", "change of the elbow angle over the rep", "deg",
       ("sho", "elb", "wri"), {FRONT, BACK}, "above", "side_raise.elbow_change",
       "keep the elbow angle fixed — it changed {value:.0f}°", m_elbow_angle_range, sides="arms"),
    _c("side_raise", "no_knee_bounce", "hips dipping (knee bend) during the rep", "leg lengths",
       ("hip", "kne", "ank"), ALL_VIEWS, "above", "side_raise.leg_dip",
       "no knee bounce — hips dipped {value:.2f} leg lengths", m_hip_dip),
    _c("side_raise", "no_torso_swing", "trunk swing: lean excursion over the rep", "deg",
       ("sho", "hip"), SAGITTAL, "above", "side_raise.trunk_swing",
       "no torso swing — the trunk swung {value:.0f}°", m_trunk_swing, undefined=TRUNK_JUMPED),
    # knee up
    _c("knee_up", ROM, "thigh elevation at the top (knee towards hip height)", "deg", ("hip", "kne"),
       ALL_VIEWS, "below", "knee_up.lift", "lift the knee to hip height — thigh stopped {value:.0f}° "
       "from horizontal", m_knee_lift, sides="working"),
    _c("knee_up", "knee_high", "thigh elevation at the top (knee towards hip height)", "deg",
       ("hip", "kne"), ALL_VIEWS, "below", "knee_up.lift",
       "bring the knee higher — thigh stopped {value:.0f}° from horizontal", m_knee_lift, sides="working"),
    # leg raise
    _c("leg_raise", ROM, "thigh elevation at the top (legs towards vertical)", "deg", ("hip", "kne"),
       ALL_VIEWS, "below", "leg_raise.top",
       "raise your legs to vertical — thighs stopped {value:.0f}° above the floor", m_thigh_elevation_lying,
       undefined="the legs rise towards or away from the camera (seen end-on)"),
    _c("leg_raise", "lower_back_down", "pelvis rising off the floor during the rep", "torso lengths",
       ("hip",), ALL_VIEWS, "above", "leg_raise.pelvis_lift",
       "keep your lower back down — the hips rose {value:.2f} torso lengths", m_pelvis_lift),
    _c("leg_raise", "knee_angle_fixed", "change of the knee angle over the rep", "deg", LEGS,
       {SIDE, OBLIQUE}, "above", "leg_raise.knee_change",
       "keep the knee angle fixed — it changed {value:.0f}°", m_knee_flexion_range),
    # side lunge
    _c("side_lunge", ROM, "working knee bend at the bottom", "deg", LEGS, FRONTAL, "below",
       "side_lunge.knee_min", "lunge deeper — the working knee bent only {value:.0f}°",
       m_knee_flexion_peak, sides="working"),
    _c("side_lunge", "working_knee_90", "working knee bend at the bottom (about 90°)", "deg", LEGS,
       FRONTAL, "below", "side_lunge.knee_min", "bend the working knee to 90° — it bent {value:.0f}°",
       m_knee_flexion_peak, sides="working", threshold_hi="side_lunge.knee_max",
       cue_hi="bend the working knee to 90° — it bent {value:.0f}°, past 90"),
    _c("side_lunge", "other_leg", "the other knee's bend at the bottom", "deg", LEGS, FRONTAL,
       "above", "side_lunge.other_knee", "keep the other leg straight — it bent {value:.0f}°",
       m_knee_flexion_peak, sides="other"),
    # side crunch
    _c("side_crunch", "knee_elbow_close", "closest knee-to-elbow distance", "torso lengths",
       ("kne", "elb"), FRONTAL, "above", "side_crunch.gap",
       "bring knee and elbow closer — they stayed {value:.2f} torso lengths apart", m_knee_elbow_gap,
       sides="working"),
    _c("side_crunch", ROM, "sideways trunk bend at the crunch", "deg", ("sho", "hip"), FRONTAL,
       "below", "side_crunch.side_bend", "crunch all the way to the side — the trunk bent {value:.0f}°",
       m_trunk_side_bend),
    _c("side_crunch", "hands_behind_head", "lowest wrist below the ears", "torso lengths",
       ("wri", "ear"), FRONTAL, "above", "side_crunch.wrist_drop",
       "hands behind your head — a hand dropped {value:.2f} torso lengths below the ears", m_wrists_low,
       sides="worst"),
)

BY_ID: dict[str, ConditionDef] = {c.id: c for c in CONDITIONS}
assert all(c.key in {k.key for k in EXERCISES[c.exercise].conditions} for c in CONDITIONS)


def definitions(exercise: str) -> list[ConditionDef]:
    return [c for c in CONDITIONS if c.exercise == exercise]
