"""Sampled people: segment lengths from stature (anthropometric tables), and the dataset's pool."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Body:
    """A person's proportions in metres (segment lengths between BlazePose landmarks)."""

    id: str
    sex: str
    height: float
    thigh: float
    shank: float
    upper_arm: float
    forearm: float
    hand: float
    foot: float
    ankle_h: float
    hip_w: float  # hip breadth: what stance widths are measured in (feet hip-width apart)
    shoulder_w: float  # distance between the two shoulder landmarks
    lumbar: float
    thoracic: float
    head: float  # head size scale (1 = average)
    girth: float  # limb/torso thickness scale for occlusion (1 = average)
    pelvis_w: float  # distance between the two hip landmarks


    @property
    def leg(self) -> float:
        return self.thigh + self.shank

    @property
    def torso(self) -> float:
        """Hip midpoint to shoulder midpoint when upright."""
        return self.lumbar + self.thoracic - 0.015 * self.height


# Segment lengths as fractions of stature (Winter's / Drillis-Contini tables, adjusted to where
# BlazePose puts its landmarks), mean for (male, female); each person draws each ratio with ~3%
# spread. The shoulder and hip landmarks' widths are those BlazePose and AI-Hub's labellers give
# real people seen square-on: 0.67 and 0.40 torso lengths (docs/conditions.md, "The view").
_RATIOS = {
    "thigh": (0.257, 0.259), "shank": (0.252, 0.249), "upper_arm": (0.174, 0.170),
    "forearm": (0.150, 0.145), "hand": (0.108, 0.105), "foot": (0.152, 0.148),
    "hip_w": (0.142, 0.156), "shoulder_w": (0.194, 0.181), "torso": (0.276, 0.273),
}
PELVIS_OF_HIP = 0.77  # hip landmarks' separation / hip breadth: 0.40 torso lengths on average


def sample_body(rng: np.random.Generator, body_id: str) -> Body:
    sex = "female" if rng.random() < 0.5 else "male"
    k = 1 if sex == "female" else 0
    h = rng.normal(163.0, 6.5) if k else rng.normal(176.5, 7.0)
    h = float(np.clip(h, 150.0, 195.0)) / 100.0
    r = {name: m[k] * float(np.clip(rng.normal(1.0, 0.03), 0.91, 1.09)) for name, m in _RATIOS.items()}
    torso = r["torso"] * h
    span = torso + 0.015 * h
    lumbar_share = rng.uniform(0.42, 0.48)
    return Body(
        id=body_id, sex=sex, height=h,
        thigh=r["thigh"] * h, shank=r["shank"] * h, upper_arm=r["upper_arm"] * h,
        forearm=r["forearm"] * h, hand=r["hand"] * h, foot=r["foot"] * h, ankle_h=0.047 * h,
        hip_w=r["hip_w"] * h, shoulder_w=r["shoulder_w"] * h,
        lumbar=lumbar_share * span, thoracic=(1 - lumbar_share) * span,
        head=float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)),
        girth=float(rng.uniform(0.85, 1.2)), pelvis_w=PELVIS_OF_HIP * r["hip_w"] * h,
    )


DEFAULT_BODIES = 256


@functools.lru_cache(maxsize=8)
def body_pool(master_seed: int, n: int = DEFAULT_BODIES) -> list[Body]:
    """The dataset's people: clips draw a body from this pool, so subjects repeat across clips
    (and grouped splits by subject mean something)."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([master_seed, 7919, i]))
        out.append(sample_body(rng, f"synth-s{master_seed}-b{i:04d}"))
    return out
