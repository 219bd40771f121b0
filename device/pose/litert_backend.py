"""BlazePose run directly through the LiteRT interpreter, with a chosen number of threads.

The detector (``pose_detection.tflite``, 224×224 SSD) and one of the Lite / Full / Heavy
landmark models (256×256, 39 landmarks) ship inside the package (``models/``, checked against
their sha256 at load; see :mod:`.bundled`); mediapipe is never needed. The graph around them
follows mediapipe's ``pose_landmark_cpu`` step for step, so both backends give the same
landmarks on the same model:

1. detector (only when not tracking): letterbox the frame to 224×224 in [-1, 1], decode the
   2254 SSD anchors, weighted non-max suppression, keep the best detection;
2. ROI from the detection's keypoints: centre at keypoint 0 (hip centre), rotation from
   keypoint 0 → 1, size twice their distance, squared and scaled by 1.25;
3. rotated crop of the ROI to 256×256 in [0, 1] (one affine warp into a reused buffer, scaled
   straight into the interpreter's input tensor), landmark model, pose flag (presence) against
   ``min_tracking_confidence``;
4. landmarks decoded (sigmoid visibility/presence), refined on the 64×64 heatmaps, projected back
   to image coordinates (z in x's units); world landmarks (metres, hip-centred) rotated by the
   ROI's rotation;
5. One-Euro smoothing (mediapipe's pose settings), and the next frame's ROI from the smoothed
   auxiliary landmarks 33/34 — the detector runs again only when the pose flag drops.

Geometry is float32 in mediapipe's order of operations: the landmark model is chaotic in its
crop (a one-ulp change in the ROI feeds back through tracking), so staying close to mediapipe's
arithmetic keeps the two backends' tracks together. Smoothing uses the caller's timestamps,
where mediapipe's legacy solution assumes 30 fps.
"""

from __future__ import annotations

import logging
import math
import os
import queue
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import litert
from . import bundled, pruning
from .landmarks import NUM_LANDMARKS, Pose, PoseError
from .smoothing import POSE_AUXILIARY, POSE_LANDMARKS, POSE_WORLD, LandmarkSmoother, OneEuroFilter

log = logging.getLogger(__name__)

MODELS = bundled.LANDMARK_MODELS
DEFAULT_MODEL = "full"  # chosen by bench/pose.py's table (README, Benchmarks): Lite judges form worse

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_ANCHORS = 2254
NUM_ALL_LANDMARKS = 39  # 33 pose + 2 auxiliary (ROI) + 4 unused
NUM_USED = NUM_LANDMARKS + 2
ROI_SCALE = 1.25
NMS_IOU = 0.3
HEATMAP_KERNEL = 9  # the option's default: the graph in mediapipe 0.10.x wheels does not set it
HEATMAP_MIN_CONFIDENCE = 0.5
SEGMENTATION_SHAPE = (1, LANDMARK_SIZE, LANDMARK_SIZE, 1)  # the mask output nothing reads


def load_interpreter(model_path: str | os.PathLike, threads: int, prune_segmentation: bool = False):
    """A LiteRT interpreter for ``model_path`` with ``threads`` CPU threads, allocated
    (:func:`formcheck.device.litert.load_interpreter`; every failure a :class:`PoseError`).

    ``prune_segmentation`` loads the landmark model without its segmentation-mask output and
    the operators only the mask needs (:mod:`.pruning`): the same landmarks, in less time.
    """
    try:
        model: str | os.PathLike | bytes = model_path
        if prune_segmentation:
            if pruning.available():
                model, removed = pruning.without_outputs(Path(model_path).read_bytes(),
                                                         lambda shape: shape == SEGMENTATION_SHAPE)
                log.debug("pose model %s: %d operators of the segmentation mask pruned", model_path, removed)
            else:
                log.info("pose model %s loads whole: this TFLite runtime has no flatbuffer schema to "
                         "prune its segmentation mask (install ai-edge-litert to run it faster)", model_path)
        return litert.load_interpreter(model, threads, PoseError)
    except PoseError:  # no runtime installed: already says what to do
        raise
    except (OSError, ValueError, RuntimeError) as e:
        raise PoseError(f"cannot load TFLite model {model_path}: {e}") from e


# ----------------------------------------------------------------------------------------
# Geometry and decoding, in float32 and in mediapipe's order of operations.
#
# Why so literal: the landmark model is chaotic in its crop. A one-ulp change in the ROI moves
# some landmarks by ~1e-4, which the next frame's ROI (made from those landmarks) feeds back,
# and after a few dozen frames of tracking two pipelines that differ only in rounding disagree
# as much as mediapipe disagrees with itself on a frame with ±1 pixel noise. Computing every
# step as mediapipe's C++ does (float32, same operation order; it is built without FMA) makes
# the pipeline itself exact: given the same model output, both backends produce the same bits.
# What is left is the ulp-level difference between the two runtimes' model outputs.
# ----------------------------------------------------------------------------------------

F32 = np.float32
_ZERO, _ONE, _TWO, _HALF = F32(0.0), F32(1.0), F32(2.0), F32(0.5)
_TARGET_ANGLE = F32(math.pi * 90 / 180.0)  # rotation_vector_target_angle_degrees: 90


def _load_libm():
    """The C library's float functions (cosf, sinf, atan2f), the very ones mediapipe calls:
    glibc's are not always correctly rounded, so double-precision stand-ins differ by an ulp
    about 1% of the time. Falls back to ``math`` (rounded once) where there is no libm."""
    import ctypes
    import ctypes.util

    try:
        lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        fns = {}
        for name, nargs in (("cosf", 1), ("sinf", 1), ("atan2f", 2)):
            f = getattr(lib, name)
            f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float] * nargs
            fns[name] = f
        return fns
    except (OSError, AttributeError):
        return {}


_LIBM = _load_libm()
_FALLBACK = {"cosf": math.cos, "sinf": math.sin, "atan2f": math.atan2}


def _libm(name: str, *args) -> np.float32:
    """A float32 libm call, e.g. ``_libm("atan2f", y, x)``."""
    fn = _LIBM.get(name) or _FALLBACK[name]
    return F32(fn(*(float(a) for a in args)))


_LOGIT_LIMIT = F32(80.0)  # sigmoid is 0 or 1 to float32 precision beyond; exp stays finite


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1.0f / (1.0f + expf(-x))`` elementwise in float32."""
    e = np.exp(-np.clip(np.asarray(x, dtype=F32), -_LOGIT_LIMIT, _LOGIT_LIMIT))
    e += _ONE
    return np.reciprocal(e, out=e)


def _normalize_radians(a: np.float32) -> np.float32:
    # mediapipe's NormalizeRadians: double arithmetic on a float, rounded back to float.
    a = float(a)
    return F32(a - 2 * math.pi * math.floor((a - (-math.pi)) / (2 * math.pi)))


@dataclass
class Roi:
    """A rotated rectangle in normalised image coordinates (mediapipe's ``NormalizedRect``,
    float32 fields); ``rotation`` in radians, clockwise on screen (y points down)."""

    x: np.float32
    y: np.float32
    w: np.float32
    h: np.float32
    rotation: np.float32 = _ZERO


def roi_from_points(p0: np.ndarray, p1: np.ndarray, image_size: tuple[int, int],
                    scale: float = ROI_SCALE) -> tuple[Roi, np.float32]:
    """ROI centred on ``p0`` (normalised), sized twice |p0 p1| in pixels, rotated so that
    p0 → p1 points up, squared on its long side and scaled (mediapipe's AlignmentPointsRects
    followed by RectTransformation(square_long, scale)).

    Returns the ROI and the unscaled box's object scale in pixels (the smoother's speed unit).
    """
    wf, hf = F32(image_size[0]), F32(image_size[1])
    x0, y0 = F32(p0[0]) * wf, F32(p0[1]) * hf
    x1, y1 = F32(p1[0]) * wf, F32(p1[1]) * hf
    dx, dy = x1 - x0, y1 - y0
    box = F32(np.sqrt(dx * dx + dy * dy)) * _TWO
    rotation = _normalize_radians(_TARGET_ANGLE - _libm("atan2f", -dy, dx))
    raw_w, raw_h = box / wf, box / hf
    object_scale = (raw_w * wf + raw_h * hf) / _TWO
    side = max(raw_w * wf, raw_h * hf)  # square_long
    s = F32(scale)
    return Roi(x0 / wf, y0 / hf, side / wf * s, side / hf * s, rotation), object_scale


def _pad_to_square(rw: np.float32, rh: np.float32):
    """mediapipe's PadRoi for a square tensor: the padded size and the letterbox padding
    (left, top, right, bottom) as fractions of the tensor."""
    aspect = rh / rw
    if _ONE > aspect:
        return rw, rw, np.array([0, (_ONE - aspect) / _TWO, 0, (_ONE - aspect) / _TWO], dtype=F32)
    pad = (_ONE - _ONE / aspect) / _TWO
    return rh, rh, np.array([pad, 0, pad, 0], dtype=F32)


def _affine(cx, cy, rw, rh, rotation, out: int) -> np.ndarray:
    """The 2×3 map from the ``out``×``out`` tensor's pixels to the image's (inverse map): the
    rotated rectangle's corners land on the tensor's corners, as mediapipe's ImageToTensor."""
    c, s = math.cos(float(rotation)), math.sin(float(rotation))
    w, h = float(rw) / out, float(rh) / out
    a, b, d, e = c * w, -s * h, s * w, c * h
    return np.array([[a, b, float(cx) - 0.5 * out * (a + b)],
                     [d, e, float(cy) - 0.5 * out * (d + e)]])


def _warp(frame: np.ndarray, m: np.ndarray, out: int, border: int,
          dst: np.ndarray | None = None) -> np.ndarray:
    return cv2.warpAffine(frame, m, (out, out), dst=dst, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=border, borderValue=(0, 0, 0))


def crop(frame: np.ndarray, roi: Roi, out: int, border: int,
         dst: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``out``×``out`` uint8 crop of the rotated ROI, letterboxed to square, and its padding
    (written into ``dst`` when given)."""
    h, w = frame.shape[:2]
    wf, hf = F32(w), F32(h)
    rw, rh = F32(roi.w) * wf, F32(roi.h) * hf
    if not (rw > 0 and rh > 0 and np.isfinite([roi.x, roi.y, roi.rotation, rw, rh]).all()):
        raise ValueError(f"degenerate ROI {roi}")
    pw, ph, pad = _pad_to_square(rw, rh)
    m = _affine(F32(roi.x) * wf, F32(roi.y) * hf, pw, ph, roi.rotation, out)
    return _warp(frame, m, out, border, dst), pad


def letterbox(frame: np.ndarray, out: int = DETECTOR_SIZE,
              dst: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The whole frame fitted into ``out``×``out`` with black bars, and the bars' padding."""
    h, w = frame.shape[:2]
    wf, hf = F32(w), F32(h)
    pw, ph, pad = _pad_to_square(wf, hf)
    m = _affine(_HALF * wf, _HALF * hf, pw, ph, 0.0, out)
    return _warp(frame, m, out, cv2.BORDER_CONSTANT, dst), pad


# ----------------------------------------------------------------------------------------
# Detector
# ----------------------------------------------------------------------------------------

def ssd_anchors(input_size: int = DETECTOR_SIZE, strides: tuple[int, ...] = (8, 16, 32, 32, 32),
                offset: float = 0.5) -> np.ndarray:
    """Anchor centres ``(N, 2)`` as mediapipe's SsdAnchorsCalculator makes them for the pose
    detector (fixed anchor size 1, aspect ratio 1 plus the interpolated one: 2 anchors per
    layer and location; consecutive layers with the same stride share one grid)."""
    centres = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = 2 * (last - layer)
        fm = math.ceil(input_size / strides[layer])
        c = ((np.arange(fm) + offset) / fm).astype(F32)  # (x + 0.5f) / fm, one rounding
        ys, xs = np.meshgrid(c, c, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
        layer = last
    return np.concatenate(centres).astype(F32)


@dataclass
class Detection:
    """One person detection in normalised image coordinates (float32)."""

    score: float
    box: np.ndarray  # xmin, ymin, xmax, ymax
    keypoints: np.ndarray  # (4, 2): hip centre, full-body size/rotation point, shoulder centre, upper-body point


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    box, boxes = box.astype(np.float64), boxes.astype(np.float64)
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float = NMS_IOU) -> list[Detection]:
    """mediapipe's WEIGHTED non-max suppression: each cluster (IoU > threshold with its best
    box) becomes one detection whose box and keypoints are the score-weighted means, summed in
    float32 in score order as mediapipe does."""
    scores = scores.astype(F32)
    order = np.argsort(-scores, kind="stable")
    out: list[Detection] = []
    while order.size:
        best = order[0]
        overlap = _iou(boxes[best], boxes[order]) > iou_threshold
        members = order[overlap]
        if members.size:
            wts = scores[members]
            total = np.cumsum(wts, dtype=F32)[-1]
            box = np.cumsum(boxes[members] * wts[:, None], axis=0, dtype=F32)[-1] / total
            kps = np.cumsum(keypoints[members] * wts[:, None, None], axis=0, dtype=F32)[-1] / total
        else:
            box, kps = boxes[best], keypoints[best]
        out.append(Detection(float(scores[best]), box.astype(F32), kps.astype(F32)))
        if not overlap.any():  # mediapipe stops when nothing was removed
            break
        order = order[~overlap]
    return out


def decode_detections(raw: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
                      min_score: float) -> list[Detection]:
    """SSD regressors ``(N, 12)`` and score logits ``(N,)`` → detections in tensor-normalised
    coordinates, best first (TensorsToDetections with reverse_output_order, then NMS)."""
    logits = np.clip(np.asarray(logits, dtype=F32), F32(-100.0), F32(100.0))
    scores = _sigmoid(logits)
    keep = np.flatnonzero(scores >= F32(min_score))
    if keep.size == 0:
        return []
    scale = F32(DETECTOR_SIZE)
    r = np.asarray(raw, dtype=F32)[keep] / scale
    a = anchors[keep]
    xc, yc = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
    hw, hh = r[:, 2] / _TWO, r[:, 3] / _TWO
    xmin, ymin, xmax, ymax = xc - hw, yc - hh, xc + hw, yc + hh
    ok = (xmax > xmin) & (ymax > ymin)
    # A detection's box is stored as xmin, ymin, width, height; NMS reads xmin + width back.
    boxes = np.stack([xmin, ymin, xmin + (xmax - xmin), ymin + (ymax - ymin)], axis=1)
    kps = r[:, 4:12].reshape(-1, 4, 2) + a[:, None, :]
    return weighted_nms(scores[keep][ok], boxes[ok], kps[ok])


def _refine_from_heatmap(lm: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL,
                         min_confidence: float = HEATMAP_MIN_CONFIDENCE, count: int | None = None) -> None:
    """In place: move each of the first ``count`` landmarks (crop-normalised x, y; float32) to
    the sigmoid-weighted centre of its heatmap around it when the heatmap is confident there
    (mediapipe's RefineLandmarksFromHeatmap: the window shrinks at the border)."""
    hm_h, hm_w, n = heatmap.shape
    n = n if count is None else min(n, count)
    off = (kernel - 1) // 2
    cols = (lm[:n, 0] * F32(hm_w)).astype(np.intp)  # C++ int(): truncation toward zero
    rows = (lm[:n, 1] * F32(hm_h)).astype(np.intp)
    # mediapipe tests the column against the height too (and never the row's upper bound).
    inside = (cols >= 0) & (cols < hm_w) & (rows >= 0) & (cols < hm_h)
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return
    d = np.arange(-off, off + 1)
    rr, cc = rows[idx, None] + d, cols[idx, None] + d  # (k, kernel) each
    rin, cin = (rr >= 0) & (rr < hm_h), (cc >= 0) & (cc < hm_w)
    # One flat gather of every window (channels last): ((r * W) + c) * C + channel.
    flat = ((np.clip(rr, 0, hm_h - 1) * (hm_w * heatmap.shape[2]))[:, :, None]
            + (np.clip(cc, 0, hm_w - 1) * heatmap.shape[2])[:, None, :] + idx[:, None, None])
    conf = _sigmoid(heatmap.reshape(-1)[flat])
    conf *= rin[:, :, None] & cin[:, None, :]
    # Separable weighted sums: sum_r r * sum_c conf and sum_c c * sum_r conf.
    by_row, by_col = conf.sum(axis=2), conf.sum(axis=1)
    total = by_row.sum(axis=1)
    wr = (by_row * rr.astype(F32)).sum(axis=1)
    wc = (by_col * cc.astype(F32)).sum(axis=1)
    ok = (conf.reshape(idx.size, -1).max(axis=1) >= F32(min_confidence)) & (total > 0)
    sel = idx[ok]
    lm[sel, 0] = wc[ok] / F32(hm_w) / total[ok]
    lm[sel, 1] = wr[ok] / F32(hm_h) / total[ok]


# ----------------------------------------------------------------------------------------
# The backend
# ----------------------------------------------------------------------------------------

class ModelSet:
    """One detector and one landmark interpreter with their reused buffers: one frame at a time
    (a LiteRT interpreter is not shared between threads; a pipeline holds one set per frame in
    flight)."""

    def __init__(self, det_path: Path, lmk_path: Path, threads: int):
        self.det = load_interpreter(det_path, threads)
        self.lmk = load_interpreter(lmk_path, threads, prune_segmentation=True)
        self._det_in, self._det_boxes, self._det_scores = self._detector_io(self.det)
        self._lmk_in, self._lmk_out = self._landmark_io(self.lmk)
        self._anchors = ssd_anchors()
        # Reused buffers: the crops are warped into these, then scaled into the input tensors.
        self._det_buf = np.empty((DETECTOR_SIZE, DETECTOR_SIZE, 3), np.uint8)
        self._lmk_buf = np.empty((LANDMARK_SIZE, LANDMARK_SIZE, 3), np.uint8)

    @staticmethod
    def _detector_io(it) -> tuple[int, int, int]:
        (inp,) = it.get_input_details()
        if tuple(inp["shape"]) != (1, DETECTOR_SIZE, DETECTOR_SIZE, 3) or inp["dtype"] != np.float32:
            raise PoseError(f"pose detector input {tuple(inp['shape'])} {inp['dtype']}, "
                            "expected (1, 224, 224, 3) float32")
        boxes = scores = None
        for d in it.get_output_details():
            shape = tuple(d["shape"])
            if shape == (1, NUM_ANCHORS, 12):
                boxes = d["index"]
            elif shape == (1, NUM_ANCHORS, 1):
                scores = d["index"]
        if boxes is None or scores is None:
            raise PoseError("pose detector outputs are not the BlazePose (1, 2254, 12) boxes "
                            "and (1, 2254, 1) scores")
        return inp["index"], boxes, scores

    @staticmethod
    def _landmark_io(it) -> tuple[int, dict[str, int]]:
        (inp,) = it.get_input_details()
        if tuple(inp["shape"]) != (1, LANDMARK_SIZE, LANDMARK_SIZE, 3) or inp["dtype"] != np.float32:
            raise PoseError(f"pose landmark input {tuple(inp['shape'])} {inp['dtype']}, "
                            "expected (1, 256, 256, 3) float32")
        # Tell outputs apart by shape (names differ between converter versions).
        by_shape = {(1, NUM_ALL_LANDMARKS * 5): "landmarks", (1, 1): "flag",
                    (1, 64, 64, NUM_ALL_LANDMARKS): "heatmap", (1, NUM_ALL_LANDMARKS * 3): "world"}
        out = {by_shape[tuple(d["shape"])]: d["index"] for d in it.get_output_details()
               if tuple(d["shape"]) in by_shape}
        missing = {"landmarks", "flag", "heatmap", "world"} - set(out)
        if missing:
            raise PoseError(f"pose landmark model lacks output(s) {sorted(missing)}: "
                            "not a BlazePose GHUM landmark model")
        return inp["index"], out

    def detect(self, frame: np.ndarray, min_confidence: float) -> list[Detection]:
        """All people the detector finds, best first, in normalised image coordinates."""
        img, pad = letterbox(frame, DETECTOR_SIZE, self._det_buf)
        x = self.det.tensor(self._det_in)()[0]  # the input tensor itself: no copy
        np.multiply(img, F32(2.0 / 255.0), out=x, casting="unsafe")  # [-1, 1]
        x -= _ONE
        del x  # the interpreter refuses to run while a view of its tensors is alive
        self.det.invoke()
        raw = self.det.get_tensor(self._det_boxes)[0]
        logits = self.det.get_tensor(self._det_scores)[0, :, 0]
        dets = decode_detections(raw, logits, self._anchors, min_confidence)
        # Undo the letterbox: tensor coordinates -> image coordinates.
        sx, sy = _ONE - (pad[0] + pad[2]), _ONE - (pad[1] + pad[3])
        for d in dets:
            d.box = ((d.box - pad[[0, 1, 0, 1]]) / np.array([sx, sy, sx, sy], dtype=F32)).astype(F32)
            d.keypoints = ((d.keypoints - pad[:2]) / np.array([sx, sy], dtype=F32)).astype(F32)
        return dets

    def landmarks(self, frame: np.ndarray, roi: Roi, min_presence: float) -> tuple[float, np.ndarray, np.ndarray]:
        """Pose presence score, the 39 landmarks ``(39, 5)`` float32 (x, y, z, visibility,
        presence) in normalised image coordinates and the 39 world landmarks ``(39, 3)``
        (metres, hip-centred, image axes) for a person inside ``roi``."""
        img, pad = crop(frame, roi, LANDMARK_SIZE, cv2.BORDER_REPLICATE, self._lmk_buf)
        x = self.lmk.tensor(self._lmk_in)()[0]  # the input tensor itself: no copy
        np.multiply(img, F32(1.0 / 255.0), out=x, casting="unsafe")  # [0, 1]
        del x  # the interpreter refuses to run while a view of its tensors is alive
        self.lmk.invoke()
        out = self._lmk_out
        flag = float(self.lmk.get_tensor(out["flag"]).reshape(-1)[0])
        if flag < min_presence:
            return flag, None, None
        lm = self.lmk.get_tensor(out["landmarks"]).reshape(NUM_ALL_LANDMARKS, 5)
        world = self.lmk.get_tensor(out["world"]).reshape(NUM_ALL_LANDMARKS, 3)
        lm[:, :3] /= F32(LANDMARK_SIZE)
        lm[:, 3:5] = _sigmoid(lm[:, 3:5])
        # A view of the heatmap tensor (no 640 kB copy); read before the next invoke.
        heatmap = self.lmk.tensor(out["heatmap"])()[0]
        _refine_from_heatmap(lm, heatmap, count=NUM_USED)  # the 4 unused landmarks are never read
        del heatmap
        # Letterbox removal inside the crop, then the rotated crop projected onto the image.
        sx, sy = _ONE - (pad[0] + pad[2]), _ONE - (pad[1] + pad[3])
        u = (lm[:, 0] - pad[0]) / sx - _HALF
        v = (lm[:, 1] - pad[1]) / sy - _HALF
        z = lm[:, 2] / sx
        c, s = _libm("cosf", roi.rotation), _libm("sinf", roi.rotation)
        lm[:, 0] = (c * u - s * v) * F32(roi.w) + F32(roi.x)
        lm[:, 1] = (s * u + c * v) * F32(roi.h) + F32(roi.y)
        lm[:, 2] = z * F32(roi.w)
        # World landmarks: the crop's rotation undone (mediapipe's WorldLandmarkProjection).
        wx, wy = world[:, 0].copy(), world[:, 1].copy()
        world[:, 0] = c * wx - s * wy
        world[:, 1] = s * wx + c * wy
        return flag, lm, world



class LitertPose:
    """BlazePose (Lite, Full or Heavy) through LiteRT.

    Options: ``model`` (lite | full | heavy; default :data:`DEFAULT_MODEL`), ``threads``
    (0 = all cores), ``model_dir`` (a folder holding ``pose_detection.tflite`` and
    ``pose_landmark_<model>.tflite``, side by side or in mediapipe's ``pose_detection/`` and
    ``pose_landmark/`` folders; each checked against the packaged manifest; default: the models
    inside the package), ``track`` (reuse the previous frame's landmarks for the crop; False runs
    the detector on every frame), ``smooth`` (One-Euro smoothing across frames),
    ``min_detection_confidence`` (detector score), ``min_tracking_confidence`` (pose presence
    needed to keep a pose and keep tracking), ``static`` (unrelated images: no tracking, no
    smoothing; as the mediapipe backend), ``pipeline`` (frames in flight at once, each on its
    own interpreters, ``threads`` shared out between them; default 1).

    :meth:`estimate` is one frame in, its pose out. :meth:`submit` / :meth:`collect` keep up to
    ``pipeline`` frames in flight: the frames' models run in parallel, and each pose is finished
    (smoothing, the next crop) in order when collected, so a tracked frame's crop comes from
    the last pose collected before it was submitted (one frame older with two in flight). Two
    one-thread interpreters in parallel do a few more frames a second than one two-thread
    interpreter on the same two cores, but the older crop moves the landmarks (README, "Pose
    models"), so one frame at a time stays the default.
    """

    name = "litert"

    def __init__(self, threads: int = 0, model: str = DEFAULT_MODEL,
                 model_dir: str | os.PathLike | None = None, track: bool = True, smooth: bool = True,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 static: bool = False, pipeline: int = 1, **_ignored):
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise PoseError(f"litert pose option threads must be an integer >= 0 "
                            f"(0 = all cores), got {threads!r}")
        if isinstance(pipeline, bool) or not isinstance(pipeline, int) or pipeline < 1:
            raise PoseError(f"litert pose option pipeline must be an integer >= 1, got {pipeline!r}")
        if model not in MODELS:
            raise PoseError(f"litert pose option model must be one of {', '.join(MODELS)}, got {model!r}")
        for key, val in (("min_detection_confidence", min_detection_confidence),
                         ("min_tracking_confidence", min_tracking_confidence)):
            try:
                ok = 0.0 <= float(val) <= 1.0
            except (TypeError, ValueError, OverflowError):
                ok = False
            if not ok:
                raise PoseError(f"litert pose option {key} must be a number in [0, 1], got {val!r}")
        self.threads = threads or os.cpu_count() or 1
        self.model = model
        self.track = bool(track) and not static
        self.smooth = bool(smooth) and not static
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)

        self.model_dir = Path(model_dir).expanduser() if model_dir is not None else bundled.MODELS_DIR
        det_path = bundled.locate(bundled.detector_file(), model_dir)
        lmk_path = bundled.locate(bundled.landmark_file(model), model_dir)
        self.model_paths = {"detector": det_path, "landmarks": lmk_path}
        self.pipeline = min(pipeline, self.threads)
        # the threads shared out between the slots (3 threads: 2 and 1)
        self._sets = [ModelSet(det_path, lmk_path, self.threads // self.pipeline + (i < self.threads % self.pipeline))
                      for i in range(self.pipeline)]
        self._free: queue.SimpleQueue[ModelSet] = queue.SimpleQueue()
        for ms in self._sets:
            self._free.put(ms)
        self._pool = (ThreadPoolExecutor(self.pipeline, thread_name_prefix="pose-model")
                      if self.pipeline > 1 else None)
        # submitted frames, oldest first: (raw result or its future, t, size, rewound)
        self._in_flight: deque[tuple] = deque()
        self._submitted_t: float | None = None

        self._smoother = LandmarkSmoother(POSE_LANDMARKS, visibility=True)
        self._aux_smoother = LandmarkSmoother(POSE_AUXILIARY, visibility=False)
        self._world_smoother = OneEuroFilter(POSE_WORLD)
        self._roi: Roi | None = None  # next frame's crop while tracking
        log.info("litert pose: BlazePose %s, %d thread(s) in %d pipeline slot(s), models %s, "
                 "track=%s smooth=%s", model, self.threads, self.pipeline, lmk_path.parent,
                 self.track, self.smooth)

    # -- pipeline steps -------------------------------------------------------------------

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """All people the detector finds, best first, in normalised image coordinates."""
        return self._sets[0].detect(frame, self.min_detection_confidence)

    def landmarks(self, frame: np.ndarray, roi: Roi) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """Pose presence score, the 39 landmarks ``(39, 5)`` and the 39 world landmarks
        ``(39, 3)`` for a person inside ``roi`` (None, None when the presence is too low)."""
        return self._sets[0].landmarks(frame, roi, self.min_tracking_confidence)

    # -- the estimator interface ----------------------------------------------------------

    def estimate(self, frame_rgb: np.ndarray, t: float) -> Pose:
        """The pose of one frame (no other frame may be in flight)."""
        if self._in_flight:
            raise PoseError("litert pose: estimate() while submitted frames are in flight; collect() them first")
        self.submit(frame_rgb, t)
        return self.collect()

    @property
    def model_sets(self) -> tuple[ModelSet, ...]:
        """The interpreters, one set per pipeline slot."""
        return tuple(self._sets)

    @property
    def in_flight(self) -> int:
        """Frames submitted and not yet collected."""
        return len(self._in_flight)

    def submit(self, frame_rgb: np.ndarray, t: float) -> None:
        """Start on a frame (at most ``pipeline`` in flight); :meth:`collect` returns its pose."""
        frame = np.ascontiguousarray(frame_rgb)  # OpenCV needs positive strides
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise PoseError(f"litert pose: frame must be RGB uint8 (H, W, 3), got "
                            f"{frame.dtype} {frame.shape}")
        if len(self._in_flight) >= self.pipeline:
            raise PoseError(f"litert pose: {self.pipeline} frame(s) already in flight; collect() one first")
        h, w = frame.shape[:2]
        size = (w, h)
        # a rewound clip starts over, as on the mediapipe backend: from the detector
        rewound = self._submitted_t is not None and t <= self._submitted_t
        self._submitted_t = t
        roi = self._roi if self.track and not rewound else None
        if self._pool is None:
            raw = self._run_models(frame, size, roi)
        else:
            raw = self._pool.submit(self._run_models, frame, size, roi)
        self._in_flight.append((raw, t, size, rewound))

    def collect(self) -> Pose:
        """The pose of the oldest frame in flight (waiting for it), finished in order."""
        if not self._in_flight:
            raise PoseError("litert pose: collect() with no frame in flight")
        raw, t, size, rewound = self._in_flight.popleft()
        if rewound:
            self._reset_tracking()
        if isinstance(raw, Future):
            raw = raw.result()
        return self._finish(raw, t, size)

    def _run_models(self, frame: np.ndarray, size: tuple[int, int], roi: Roi | None):
        """The models' part of a frame, on a free model set (any thread): (presence, landmarks,
        world landmarks, whether the detector ran), or None when nobody was found."""
        ms = self._free.get()
        try:
            detected = False
            if roi is None:
                dets = ms.detect(frame, self.min_detection_confidence)
                if not dets:
                    return None
                roi, _ = roi_from_points(dets[0].keypoints[0], dets[0].keypoints[1], size)
                detected = True
            try:
                flag, lm, world = ms.landmarks(frame, roi, self.min_tracking_confidence)
            except ValueError:  # degenerate ROI (zero size): start over with the detector
                return None
            # As mediapipe: no pose on this frame (lm None); the detector runs on the next one.
            return None if lm is None else (flag, lm, world, detected)
        finally:
            self._free.put(ms)

    def _finish(self, raw, t: float, size: tuple[int, int]) -> Pose:
        """Smoothing and the next frame's crop, in frame order."""
        if raw is None:
            return self._lost(t, size)
        flag, lm, world, detected = raw
        aux = lm[33:35]
        _, obj_scale = roi_from_points(aux[0], aux[1], size)
        if self.track:
            aux = self._aux_smoother.apply(aux, t, size, obj_scale)
            self._roi = roi_from_points(aux[0], aux[1], size)[0]
        out = lm[:NUM_LANDMARKS, :4]
        wout = world[:NUM_LANDMARKS]
        if self.smooth:
            out = self._smoother.apply(out, t, size, obj_scale)
            wout = self._world_smoother.apply(wout, t)
        else:
            out = np.ascontiguousarray(out)
        world4 = np.empty((NUM_LANDMARKS, 4), np.float32)
        world4[:, :3] = wout
        world4[:, 3] = out[:, 3]  # visibility, as mediapipe's SetLandmarkVisibility
        score = float(np.mean(out[[0, 11, 12, 23, 24], 3]))
        return Pose(t=t, landmarks=out, image_size=size, score=score, world=world4,
                    extra={"presence": flag, "detector": detected})

    def _lost(self, t: float, size: tuple[int, int]) -> Pose:
        self._reset_tracking()
        return Pose.none(t, size)

    def reset(self) -> None:
        """Forget tracking and smoothing state (call between unrelated clips)."""
        self._reset_tracking()
        self._submitted_t = None

    def _reset_tracking(self) -> None:
        self._roi = None
        self._smoother.reset()
        self._aux_smoother.reset()
        self._world_smoother.reset()

    @property
    def tracking(self) -> bool:
        """Whether the next frame will reuse this frame's landmarks instead of the detector."""
        return self._roi is not None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._in_flight.clear()
        self._sets = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
