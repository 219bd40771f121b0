"""Synthetic exercise motion: a kinematic generator whose output looks like BlazePose on people.

body (sampled proportions) + exercise program + faults → joint tracks → 3D skeleton → camera
→ estimator model (occlusion, jitter, smoothing, swaps, dropouts) → labelled
``LandmarkSequence`` (origin "synthetic"). Same seed, same bytes, whatever the worker count.
How it works and what it is calibrated against: docs/synthetic.md.
"""

from __future__ import annotations

from .body import DEFAULT_BODIES, Body, body_pool, sample_body
from .camera import AIHUB_VIEWS, ALL_VIEWS, EXTRA_VIEWS, Camera, nearest_view, project, sample_camera
from .clip import GENERATOR_VERSION, Clip, ClipSpec, clip_id, make_clip
from .dataset import SynthConfig, generate_dataset
from .estimator_model import EstimatorModel, estimator, occlusion, plate_occlusion
from .labels import (
    CORRECT_MAX,
    FAULT_MIN,
    FAULT_THRESHOLD,
    KINDS,
    LYING,
    ROM_EQUIVALENT,
    ROM_IMPLIES,
    SIDED,
    UNJUDGED,
    condition_keys,
    normalise_severities,
    sample_severities,
)
from .programs import PROGRAMS
from .skeleton import Motion, Skeleton, build_skeleton

__all__ = [
    "AIHUB_VIEWS", "ALL_VIEWS", "CORRECT_MAX", "DEFAULT_BODIES", "EXTRA_VIEWS", "FAULT_MIN", "FAULT_THRESHOLD",
    "GENERATOR_VERSION", "KINDS", "LYING", "PROGRAMS", "ROM_EQUIVALENT", "ROM_IMPLIES", "SIDED", "UNJUDGED", "Body", "Camera",
    "Clip", "ClipSpec", "EstimatorModel", "Motion", "Skeleton", "SynthConfig", "body_pool", "build_skeleton",
    "clip_id", "condition_keys", "estimator", "generate_dataset", "make_clip", "nearest_view", "normalise_severities",
    "occlusion", "plate_occlusion", "project", "sample_body", "sample_camera", "sample_severities",
]
