"""Framing checks for camera setup: is the whole body in the picture, what is cut off, is the
frame too dark, is the person too far away. Pure numpy over one :class:`Pose` and its frame.

The thresholds are :class:`FramingLimits` fields; docs/setup-page.md gives the reason for each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..pose.landmarks import LM, Pose

# Body parts the setup page names, as BlazePose landmark ids.
PARTS: dict[str, tuple[int, ...]] = {
    "head": tuple(range(0, 11)),
    "shoulders": (LM["left_shoulder"], LM["right_shoulder"]),
    "arms": tuple(range(13, 23)),  # elbows, wrists, hands
    "hips": (LM["left_hip"], LM["right_hip"]),
    "knees": (LM["left_knee"], LM["right_knee"]),
    "feet": tuple(range(27, 33)),  # ankles, heels, toes
}
# What to do about a part cut off at an edge of the picture.
EDGE_FIX = {
    "top": "tilt the camera up or move it back",
    "bottom": "tilt the camera down or move it back",
    "left": "move the camera to the left or step right",
    "right": "move the camera to the right or step left",
}
# Shoulder-to-hip distance as a share of standing height (anthropometric segment proportions:
# shoulder at ~0.82 H, hip joint at ~0.53 H): the person's height when the legs are cut off.
TORSO_SHARE_OF_HEIGHT = 0.29


@dataclass(frozen=True)
class FramingLimits:
    """Named thresholds; their reasons are written in docs/setup-page.md."""

    edge_margin: float = 0.01  # a joint closer than this (share of the frame) to an edge is cut off
    min_visibility: float = 0.5  # BlazePose visibility below which a joint inside the frame is hidden
    dark_luma: float = 40.0  # mean luma (0..255) below which the frame is too dark
    min_height: float = 0.33  # person height as a share of the frame height below which: too far


@dataclass(frozen=True)
class FramingReport:
    person: bool
    whole_body: bool = False
    cut_off: tuple[str, ...] = ()  # parts with a joint outside the picture
    edges: dict[str, str] = field(default_factory=dict)  # cut-off part -> "top"/"bottom"/"left"/"right"
    hidden: tuple[str, ...] = ()  # parts inside the picture whose joints the model cannot see
    luma: float | None = None  # mean luma of the frame, 0..255
    too_dark: bool = False
    height: float | None = None  # person height / frame height
    too_far: bool = False
    hints: tuple[str, ...] = ()  # what to do, one line each

    def to_dict(self) -> dict:
        return {
            "person": self.person, "whole_body": self.whole_body, "cut_off": list(self.cut_off),
            "edges": dict(self.edges), "hidden": list(self.hidden),
            "luma": None if self.luma is None else round(self.luma, 1), "too_dark": self.too_dark,
            "height": None if self.height is None else round(self.height, 3), "too_far": self.too_far,
            "hints": list(self.hints),
        }


def mean_luma(frame_rgb: np.ndarray, step: int = 4) -> float:
    """Mean Rec. 601 luma (0..255) of an RGB uint8 frame, over every ``step``-th pixel."""
    a = np.asarray(frame_rgb)
    if a.ndim != 3 or a.shape[2] < 3 or a.size == 0:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {a.shape}")
    s = a[::step, ::step, :3].astype(np.float32)
    return float((s @ np.array([0.299, 0.587, 0.114], np.float32)).mean())


def _edge(x: float, y: float, m: float) -> str | None:
    # The edge a point lies beyond; the vertical edges first (bodies are tall).
    if y < m:
        return "top"
    if y > 1 - m:
        return "bottom"
    if x < m:
        return "left"
    if x > 1 - m:
        return "right"
    return None


def check_framing(pose: Pose | None, frame_rgb: np.ndarray | None = None,
                  limits: FramingLimits = FramingLimits()) -> FramingReport:
    """The framing of one frame. ``frame_rgb`` is optional (no darkness check without it)."""
    luma = mean_luma(frame_rgb) if frame_rgb is not None else None
    too_dark = luma is not None and luma < limits.dark_luma
    dark_hint = ("too dark: add light or turn the camera away from a window",) if too_dark else ()
    if pose is None or pose.landmarks is None:
        return FramingReport(person=False, luma=luma, too_dark=too_dark,
                             hints=(*dark_hint, "nobody in view: step into the picture, head and shoulders "
                                                "in it (the pose detector finds people by their face)"))
    lm = np.asarray(pose.landmarks, dtype=np.float64)
    xy, vis = lm[:, :2], lm[:, 3]
    finite = np.isfinite(xy).all(axis=1)
    m = limits.edge_margin

    cut: list[str] = []
    edges: dict[str, str] = {}
    hidden: list[str] = []
    for part, ids in PARTS.items():
        part_edges = [e for i in ids if finite[i] and (e := _edge(xy[i, 0], xy[i, 1], m))]
        if part_edges or not finite[list(ids)].any():
            cut.append(part)
            if part_edges:
                edges[part] = max(set(part_edges), key=part_edges.count)
        elif (vis[list(ids)] < limits.min_visibility).all():
            hidden.append(part)

    height = _height_share(xy, vis, finite, whole=not cut, limits=limits)
    too_far = height is not None and height < limits.min_height
    hints = list(dark_hint)
    for part in cut:
        where = edges.get(part)
        hints.append(f"{part} cut off" + (f" at the {where}: {EDGE_FIX[where]}" if where else ""))
    if too_far:
        hints.append("too far: move the camera closer (the pose model needs you within about 4 m)")
    return FramingReport(person=True, whole_body=not cut, cut_off=tuple(cut), edges=edges,
                         hidden=tuple(hidden), luma=luma, too_dark=too_dark, height=height,
                         too_far=too_far, hints=tuple(hints))


def _height_share(xy, vis, finite, whole: bool, limits: FramingLimits) -> float | None:
    """Person height as a share of the frame height: the joints' vertical extent (head to feet,
    when the body is whole), or the torso scaled up to a height when legs or head are cut off;
    the larger of the two, because bending shortens the extent but not the torso."""
    seen = finite & (vis >= limits.min_visibility)
    estimates = []
    if whole and seen.sum() >= 2:
        estimates.append(float(xy[seen, 1].max() - xy[seen, 1].min()))
    sh = [LM["left_shoulder"], LM["right_shoulder"]]
    hp = [LM["left_hip"], LM["right_hip"]]
    if finite[sh].any() and finite[hp].any():
        s = np.nanmean(np.where(finite[sh, None], xy[sh], np.nan), axis=0)
        h = np.nanmean(np.where(finite[hp, None], xy[hp], np.nan), axis=0)
        # Only the vertical component: the share is of the frame height.
        estimates.append(abs(float(h[1] - s[1])) / TORSO_SHARE_OF_HEIGHT)
    return max(estimates) if estimates else None
