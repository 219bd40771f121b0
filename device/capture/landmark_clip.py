"""Recorded landmarks (the dataset's ``.npz`` clips) as a capture source that yields poses:
the station plays a clip through judge and outputs with no pose estimator and no camera."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..pose.landmarks import NUM_LANDMARKS, Pose
from ..sequences import LandmarkSequence, read_sequences

log = logging.getLogger(__name__)

GAP_S = 2.0  # nobody in view between the sequences of one file (a demo file holds several)
MAX_FPS = 1000.0  # above any camera's frame rate
MAX_T = 1e9  # seconds (30 years): a timestamp past it is not a clip's, and sums would overflow
PRESENCE_LANDMARKS = [0, 11, 12, 23, 24]  # nose, shoulders, hips: the pose's presence score


def join_sequences(seqs: list[LandmarkSequence], gap_s: float = GAP_S) -> LandmarkSequence:
    """Sequences played back to back on one timeline, ``gap_s`` of nobody between them."""
    if len(seqs) == 1:
        return seqs[0]
    ts, lms, offset = [], [], 0.0
    for i, s in enumerate(seqs):
        t = s.t - s.t[0] + offset
        ts.append(t)
        lms.append(s.landmarks)
        if i == len(seqs) - 1:
            break
        # The gap's frame rate: the clip's own when plausible (a file's fps is outside input:
        # 1e9 would make billions of blank frames).
        fps = s.fps if 1.0 <= s.fps <= MAX_FPS else 30.0
        blank = np.arange(1, int(gap_s * fps) + 1) / fps + t[-1]
        ts.append(blank)
        lms.append(np.full((len(blank), NUM_LANDMARKS, 4), np.nan, np.float32))
        offset = blank[-1] + 1.0 / fps
    first = seqs[0]
    return LandmarkSequence(id=first.id, t=np.concatenate(ts), landmarks=np.concatenate(lms),
                            exercise=first.exercise, image_size=first.image_size, fps=first.fps)


def repair_timestamps(seq: LandmarkSequence, where: str) -> LandmarkSequence:
    """``seq`` without the frames whose timestamp is not finite (or beyond ``MAX_T``) or not
    after the previous kept one (a clip must move forward in time), with one warning naming them."""
    t = seq.t
    keep = np.zeros(len(t), bool)
    last = -np.inf
    for i, v in enumerate(t):
        if abs(v) < MAX_T and v > last:  # also False for NaN
            keep[i], last = True, v
    if keep.all():
        return seq
    bad = np.flatnonzero(~keep)
    named = ", ".join(f"frame {i} (t={t[i]:g})" for i in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    log.warning("%s: %d frame(s) with a non-finite, absurd or out-of-order timestamp dropped: %s%s",
                where, len(bad), named, more)
    return replace(seq, t=t[keep], landmarks=seq.landmarks[keep])


def read_clip(path: str | Path, gap_s: float = GAP_S) -> LandmarkSequence:
    """Every sequence of a landmark clip file on one timeline; :class:`SourceError` when the
    file cannot be read or holds nothing."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise SourceError(f"no such landmark clip {path}")
    try:
        seqs = read_sequences(path)
    except (OSError, ValueError, KeyError) as e:
        raise SourceError(f"cannot read landmark clip {path}: {e}") from e
    seqs = [repair_timestamps(s, f"landmark clip {path}" + (f", sequence {i}" if len(seqs) > 1 else ""))
            for i, s in enumerate(seqs)]
    seqs = [s for s in seqs if len(s.t)]
    if not seqs:
        raise SourceError(f"landmark clip {path} holds no sequence")
    if len(seqs) > 1:
        log.info("landmark clip %s: %d sequences played one after another", path, len(seqs))
    joined = join_sequences(seqs, gap_s)
    joined.id = path.stem
    return joined


def recorded_pose(seq: LandmarkSequence, i: int) -> Pose:
    """Frame ``i`` of a sequence as the pose a backend would have returned."""
    lm = seq.landmarks[i]
    t = float(seq.t[i])
    if not np.isfinite(lm[:, :2]).all(axis=1).any():
        return Pose.none(t, seq.image_size)
    vis = lm[PRESENCE_LANDMARKS, 3]
    vis = vis[np.isfinite(vis)]
    return Pose(t=t, landmarks=lm.copy(), image_size=seq.image_size,
                score=float(vis.mean()) if len(vis) else 0.0)


class LandmarkClipReader:
    """A file reader (see :class:`~formcheck.device.capture.sources.Reader`) whose frames are
    the recorded poses. ``exercise``: the clip's own label, for a judge with no recogniser."""

    live = False
    yields_poses = True

    def __init__(self, seq: LandmarkSequence):
        self.seq = seq
        self.exercise = seq.exercise
        self.describe = f"landmark clip {seq.id}"
        n, t = len(seq.t), seq.t
        span = float(t[-1] - t[0]) if n > 1 else 0.0
        fps = (n - 1) / span if span > (n - 1) / MAX_FPS else 0.0  # no overflow on a tiny span
        self.fps = fps if fps > 0 else (seq.fps if 1.0 <= seq.fps <= MAX_FPS else 30.0)
        self._i = 0

    def open(self) -> None:
        pass

    def read(self) -> tuple[Pose, float] | None:
        if self._i >= len(self.seq.t):
            return None
        pose = recorded_pose(self.seq, self._i)
        self._i += 1
        return pose, pose.t

    def close(self) -> None:
        pass
