"""The ``replay`` pose backend: plays recorded landmarks (tests, demos, the built-in demo).

The source is a :class:`~formcheck.device.sequences.LandmarkSequence` or a dataset file; each
call to :meth:`estimate` returns the recorded frame nearest in time at or before ``t`` (the
frame passed in is ignored, so any frame source, even blank frames, can drive it).
"""

from __future__ import annotations

import numpy as np

from ..pose.landmarks import Pose, PoseError
from ..sequences import LandmarkSequence, read_sequences


class ReplayPose:
    name = "replay"

    def __init__(self, sequence: LandmarkSequence | None = None, path: str | None = None,
                 index: int = 0, loop: bool = False, **_ignored):
        if sequence is None:
            if path is None:
                raise PoseError("the replay pose backend needs a sequence or a dataset file path")
            seqs = read_sequences(path)
            if not 0 <= index < len(seqs):
                raise PoseError(f"replay: {path} has {len(seqs)} sequences, no index {index}")
            sequence = seqs[index]
        self.sequence = sequence
        self.loop = loop
        self._t0 = float(sequence.t[0]) if len(sequence.t) else 0.0
        self._dur = float(sequence.t[-1] - self._t0) if len(sequence.t) else 0.0

    def reset(self) -> None:
        pass

    def estimate(self, frame_rgb: np.ndarray | None, t: float) -> Pose:
        seq = self.sequence
        rel = t - self._t0
        if self.loop and self._dur > 0:
            rel = rel % (self._dur + 1e-6)
        i = int(np.searchsorted(seq.t, self._t0 + rel, side="right")) - 1
        if i < 0 or len(seq.t) == 0:
            return Pose.none(t, seq.image_size)
        lm = seq.landmarks[i]
        if not np.isfinite(lm[:, :2]).all(axis=1).any():
            return Pose.none(t, seq.image_size)
        return Pose(t=t, landmarks=lm.copy(), image_size=seq.image_size,
                    score=float(np.nanmean(lm[[0, 11, 12, 23, 24], 3])))

    def close(self) -> None:
        pass
