"""One clip: a body, a program, faults and cameras assembled into labelled landmark sequences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formcheck.device.exercises import EXERCISES
from formcheck.device.sequences import LandmarkSequence

from .body import Body, body_pool
from .camera import FPS_CHOICES, sample_camera
from .estimator_model import EstimatorModel, estimator
from .labels import (
    FAULT_THRESHOLD,
    KINDS,
    LYING,
    UNJUDGED,
    condition_keys,
    normalise_severities,
    sample_severities,
)
from .maths import named_stream, weighted_choice
from .programs import PROGRAMS
from .programs.common import ClipContext
from .schedule import Schedule, rep_frames
from .skeleton import Motion, Skeleton, build_skeleton

GENERATOR_VERSION = 5  # 2: upright squat variants, barbell plates; 3: side lunges: knee out over the foot, head free;
# 4: seated/dumbbell presses, alternating curls, deadlifts from the floor, pelvis-lift leg raises, knee-ups
# with hands behind the head, the "other" class (and presses from the hang, off by default: P_FROM_HANG);
# 5: real people's shoulder and hip widths, faults a coach calls (visible leg dips, heels lifting at
# lockout, squats stopping above parallel, clear valgus)


@dataclass
class ClipSpec:
    """What to make: everything left None is sampled from the clip's seed."""

    kind: str
    seed: int = 0
    index: int = 0
    severity: dict[str, float] | None = None
    faults: tuple[str, ...] | None = None  # shortcut: these conditions false (severity 0.7)
    view: str | None = None
    azimuth: float | None = None
    fps: float | None = None
    image_size: tuple[int, int] | None = None
    body: Body | None = None
    noise: float = 1.0
    swaps: bool = True
    dropouts: bool = True
    views_per_clip: int = 1
    p_correct: float = 0.3
    variants: dict[str, str] | None = None  # fix program choices, e.g. {"posture": "seated"}


@dataclass
class Clip:
    sequences: list[LandmarkSequence]
    skeleton: Skeleton
    motion: Motion
    schedule: Schedule


def clip_id(kind: str, seed: int, index: int) -> str:
    return f"synth-{seed}-{kind}-{index:05d}"


def make_clip(spec: ClipSpec, bodies: list[Body] | None = None) -> Clip:
    """Generate one clip (one motion, ``views_per_clip`` cameras) from its spec."""
    if spec.kind not in KINDS:
        raise ValueError(f"clip kind {spec.kind!r}: choose one of {', '.join(KINDS)}")
    kind_i = KINDS.index(spec.kind)
    ss = np.random.SeedSequence([int(spec.seed), kind_i, int(spec.index)])
    r_meta = named_stream(ss, "meta")
    if spec.body is not None:
        body = spec.body
    else:
        pool = bodies if bodies is not None else body_pool(spec.seed)
        body = pool[int(r_meta.integers(0, len(pool)))]
    fps = float(spec.fps) if spec.fps else float(weighted_choice(r_meta, FPS_CHOICES))
    drop = r_meta.uniform(0.0, 0.08) if (fps <= 15 and r_meta.random() < 0.5) else 0.0
    if spec.kind in UNJUDGED:
        sev = {}
    elif spec.severity is not None:
        sev = {k: float(spec.severity.get(k, 0.0)) for k in condition_keys(spec.kind)}
        sev = normalise_severities(spec.kind, sev)
    elif spec.faults is not None:
        keys = condition_keys(spec.kind)
        for f in spec.faults:
            if f not in keys:
                raise ValueError(f"{spec.kind} has no condition {f!r}; known: {', '.join(keys)}")
        sev = normalise_severities(spec.kind, {k: (0.7 if k in spec.faults else 0.0) for k in keys})
    else:
        sev = sample_severities(named_stream(ss, "conditions"), spec.kind, spec.p_correct)
    ctx = ClipContext(spec.kind, body, sev, ss, fps, drop, forced=dict(spec.variants or {}))
    m, sch = PROGRAMS[spec.kind](ctx)
    unknown = sorted(set(ctx.forced) - ctx.picked)
    if unknown:
        raise ValueError(f"variants: {spec.kind} has no choice {unknown[0]!r} that can be fixed")
    sk = build_skeleton(body, m)
    cid = clip_id(spec.kind, spec.seed, spec.index)
    reps = rep_frames(m.t, sch.reps)
    active = [[int(np.searchsorted(m.t, a0)), int(np.searchsorted(m.t, a1, side="right")) - 1] for a0, a1 in sch.active]
    seqs = []
    lying = spec.kind in LYING or ctx.variant.get("behaviour") == "lying" or bool(ctx.variant.get("lying"))
    # a loaded barbell: big plates most of the time (a curl bar often carries small ones)
    p_plates = {"deadlift": 0.75, "overhead_press": 0.6, "barbell_curl": 0.3,
                "squat": 0.7 if ctx.variant.get("bar") in ("high", "low", "front") else 0.0}.get(spec.kind, 0.0)
    if ctx.variant.get("implement") == "dumbbell":
        p_plates = 0.0
    plates = bool(named_stream(ss, "plates").random() < p_plates)
    ctx.variant["plates"] = plates
    for v in range(max(1, spec.views_per_clip)):
        rc = named_stream(ss, f"camera{v}")
        cam = sample_camera(rc, sk.points, view=spec.view if v == 0 else None,
                            azimuth=spec.azimuth if v == 0 else None,
                            image_size=spec.image_size, lying=lying)
        em = EstimatorModel(spec.noise, spec.swaps, spec.dropouts)
        lm, events = estimator(named_stream(ss, f"estimator{v}"), sk, cam, m.t, em, lying=lying,
                               plates_rng=named_stream(ss, f"plates{v}") if plates else None)
        if spec.kind in UNJUDGED:
            conds, vals, correct = [], [], None
        else:
            ex = EXERCISES[spec.kind]
            conds = list(ex.condition_names)
            vals = [bool(sev[c.key] < FAULT_THRESHOLD) for c in ex.conditions]
            correct = all(vals)
        failed = [c.key for c, ok in zip(EXERCISES[spec.kind].conditions, vals, strict=True) if not ok] if vals else []
        seqs.append(LandmarkSequence(
            id=f"{cid}-v{v}", t=m.t, landmarks=lm, exercise=spec.kind, conditions=conds,
            condition_values=vals, correct=correct,
            label=(spec.kind if spec.kind in UNJUDGED else "correct" if correct else ",".join(failed)),
            source=f"formcheck-synth v{GENERATOR_VERSION} seed={spec.seed} index={spec.index}",
            origin="synthetic", view=cam.view, group=cid, subject=body.id, image_size=cam.image_size,
            fps=fps, reps=reps,
            extra={
                "generator_version": GENERATOR_VERSION,
                "camera": cam.meta(),
                "body": {"sex": body.sex, "height_cm": round(body.height * 100, 1)},
                "severity": {k: round(v_, 3) for k, v_ in sev.items()},
                "variant": dict(ctx.variant),
                "active": active,
                "rep_sides": [("left" if r.side > 0 else "right" if r.side < 0 else "both") for r in sch.reps],
                "estimator": dict(events),
            },
        ))
    return Clip(seqs, sk, m, sch)
