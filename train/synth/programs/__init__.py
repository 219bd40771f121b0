"""Exercise programs: one module per exercise (and idle), each turning a clip context into motion
tracks and a rep schedule."""

from __future__ import annotations

from .barbell_curl import prog_barbell_curl
from .deadlift import prog_deadlift
from .idle import prog_idle
from .knee_up import prog_knee_up
from .leg_raise import prog_leg_raise
from .other import prog_other
from .overhead_press import prog_overhead_press
from .side_crunch import prog_side_crunch
from .side_lunge import prog_side_lunge
from .side_raise import prog_side_raise
from .squat import prog_squat

PROGRAMS = {
    "squat": prog_squat, "deadlift": prog_deadlift, "barbell_curl": prog_barbell_curl,
    "overhead_press": prog_overhead_press, "side_raise": prog_side_raise,
    "knee_up": prog_knee_up, "side_crunch": prog_side_crunch, "side_lunge": prog_side_lunge,
    "leg_raise": prog_leg_raise, "idle": prog_idle, "other": prog_other,
}

__all__ = ["PROGRAMS", "prog_idle", "prog_other"]
