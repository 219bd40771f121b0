"""Rep schedules: tempo, pauses, sets and rests, and the activation curve programs drive joints
with."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .maths import keyframes


@dataclass
class Rep:
    start: float
    peak0: float
    peak1: float
    end: float
    side: int = 0  # +1 left, -1 right, 0 both
    amp: float = 1.0
    rest_before: float = 0.0  # activation level the rep starts from
    rest_after: float = 0.0


@dataclass
class Schedule:
    reps: list[Rep]
    duration: float
    active: list[tuple[float, float]]  # exercising spans (sets), seconds
    rests: list[tuple[float, float]] = field(default_factory=list)  # idle spans

    def activation(self, t, side: int | None = None, amp_scale=None) -> np.ndarray:
        """0 at rest, ``rep.amp`` at the peak; ``side`` keeps only that side's reps."""
        times, vals = [0.0], [0.0]
        for i, r in enumerate(self.reps):
            if side is not None and r.side not in (side, 0):
                continue
            amp = r.amp * (amp_scale[i] if amp_scale is not None else 1.0)
            if r.start > times[-1]:
                times.append(r.start)
                vals.append(r.rest_before if side is None or r.side == 0 else 0.0)
            times += [r.peak0, r.peak1, r.end]
            vals += [amp, amp, r.rest_after if side is None or r.side == 0 else 0.0]
        times.append(max(self.duration, times[-1]) + 1.0)
        vals.append(0.0)
        return keyframes(t, times, vals)

    def phase_masks(self, t):
        """``(out, back)``: 0..1 weights of being in a rep's way out (0 -> peak) and back."""
        t = np.asarray(t)
        out = np.zeros(len(t))
        back = np.zeros(len(t))
        for r in self.reps:
            out[(t >= r.start) & (t < r.peak0)] = 1.0
            back[(t >= r.peak1) & (t <= r.end)] = 1.0
        return out, back

    def in_set(self, t) -> np.ndarray:
        t = np.asarray(t)
        m = np.zeros(len(t))
        for a, b in self.active:
            m[(t >= a) & (t <= b)] = 1.0
        return m


@dataclass
class Tempo:
    out: tuple[float, float]  # seconds from rest to peak
    top: tuple[float, float]  # hold at the peak
    back: tuple[float, float]  # peak back to rest
    rest: tuple[float, float]  # pause between reps
    reps: tuple[int, int]


TEMPO: dict[str, Tempo] = {
    "barbell_curl": Tempo((0.7, 1.8), (0.0, 0.5), (0.9, 2.4), (0.0, 0.8), (3, 12)),
    "deadlift": Tempo((1.0, 2.4), (0.0, 0.5), (0.9, 2.2), (0.1, 1.5), (2, 8)),
    "deadlift_floor": Tempo((1.0, 2.2), (0.1, 0.8), (1.0, 2.2), (0.4, 2.2), (2, 8)),  # a pause on the floor
    "knee_up": Tempo((0.4, 1.1), (0.0, 0.5), (0.5, 1.3), (0.0, 0.8), (4, 14)),
    "leg_raise": Tempo((1.0, 2.4), (0.0, 0.6), (1.2, 2.8), (0.0, 0.8), (3, 12)),
    "overhead_press": Tempo((0.8, 1.8), (0.0, 0.6), (0.9, 2.2), (0.1, 1.0), (3, 10)),
    "side_crunch": Tempo((0.5, 1.3), (0.0, 0.5), (0.5, 1.4), (0.0, 0.7), (4, 14)),
    "side_lunge": Tempo((1.0, 2.2), (0.1, 0.8), (0.9, 2.0), (0.1, 1.0), (2, 10)),
    "side_raise": Tempo((0.8, 1.7), (0.0, 0.6), (1.0, 2.3), (0.0, 0.8), (3, 12)),
    "squat": Tempo((1.0, 2.3), (0.0, 0.6), (0.8, 2.0), (0.1, 1.2), (3, 10)),
    # ``other`` movements
    "front_raise": Tempo((0.8, 1.7), (0.0, 0.6), (1.0, 2.3), (0.0, 0.8), (3, 12)),
    "forward_lunge": Tempo((1.0, 2.0), (0.1, 0.7), (0.9, 1.9), (0.1, 1.0), (2, 10)),
    "bent_over_row": Tempo((0.6, 1.4), (0.0, 0.6), (0.8, 1.8), (0.0, 0.8), (4, 12)),
    "calf_raise": Tempo((0.5, 1.2), (0.0, 0.8), (0.6, 1.4), (0.0, 0.6), (5, 15)),
    "push_up": Tempo((0.7, 1.6), (0.0, 0.4), (0.6, 1.4), (0.0, 0.8), (3, 12)),
}


def build_schedule(rng, ex: str, *, n_reps: int | None = None, sides: str = "both",
                   back_scale: float = 1.0, amp_range=(0.9, 1.05), max_duration: float = 40.0) -> Schedule:
    """A clip's timeline: lead-in idle, one or two sets of reps (rest in between), lead-out.

    All random draws happen whatever the arguments (so faults never change other draws).
    ``sides``: both | left | right | alternate. ``back_scale`` < 1 makes the return phase fast
    (the "uncontrolled lowering" faults)."""
    tp = TEMPO[ex]
    n = int(rng.integers(tp.reps[0], tp.reps[1] + 1))
    if n_reps is not None:
        n = n_reps
    base_out = rng.uniform(*tp.out)
    base_back = rng.uniform(*tp.back)
    base_top = rng.uniform(*tp.top)
    base_rest = rng.uniform(*tp.rest)
    jit = rng.normal(0, 0.1, (64, 4))
    amps = rng.uniform(*amp_range, 64)
    fatigue = rng.uniform(0.0, 0.25)  # later reps slower
    two_sets = rng.random() < 0.2
    set_rest = rng.uniform(2.0, 6.0)
    lead_in = rng.uniform(0.3, 2.5) if rng.random() < 0.85 else 0.0
    lead_out = rng.uniform(0.3, 2.0) if rng.random() < 0.8 else 0.0
    first_side = 1 if rng.random() < 0.5 else -1
    split = int(rng.integers(1, max(2, n)))

    reps: list[Rep] = []
    active, rests = [], []
    t = lead_in
    set_start = t
    for i in range(n):
        if two_sets and i == split and 0 < i < n:
            active.append((set_start, t))
            rests.append((t, t + set_rest))
            t += set_rest
            set_start = t
        k = 1.0 + fatigue * i / max(n - 1, 1)
        d_out = max(0.25, base_out * k * (1 + jit[i % 64, 0]))
        d_top = max(0.0, base_top * (1 + jit[i % 64, 1]))
        d_back = max(0.15, base_back * k * (1 + jit[i % 64, 2]) * back_scale)
        d_rest = max(0.0, base_rest * (1 + jit[i % 64, 3]))
        if sides == "alternate":
            side = first_side if i % 2 == 0 else -first_side
        elif sides == "left":
            side = 1
        elif sides == "right":
            side = -1
        else:
            side = 0
        reps.append(Rep(t, t + d_out, t + d_out + d_top, t + d_out + d_top + d_back, side, float(amps[i % 64])))
        t = reps[-1].end + (d_rest if i < n - 1 else 0.0)
        if t > max_duration - lead_out and i >= 1:
            break
    active.append((set_start, reps[-1].end))
    duration = reps[-1].end + lead_out
    return Schedule(reps, duration, active, rests)


def rep_frames(t: np.ndarray, reps: list[Rep]) -> list[tuple[int, int]]:
    """Each rep's (first frame, last frame), inclusive, from its start and end times."""
    out = []
    for r in reps:
        s = int(np.searchsorted(t, r.start, side="left"))
        e = int(np.searchsorted(t, r.end, side="right")) - 1
        s = min(max(s, 0), len(t) - 1)
        e = min(max(e, s), len(t) - 1)
        out.append((s, e))
    return out


def idle_spans(sch: Schedule) -> list[tuple[float, float]]:
    spans = []
    if sch.active:
        spans.append((0.0, sch.active[0][0]))
        spans.extend(sch.rests)
        spans.append((sch.active[-1][1], sch.duration))
    return [(a, b) for a, b in spans if b - a > 0.5]
