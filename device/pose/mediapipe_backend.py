"""BlazePose through mediapipe's legacy solution (``mp.solutions.pose``), fully offline.

An optional extra (``pip install 'formcheck[mediapipe]'``, Python 3.11/3.12): kept for comparison
and extraction parity; the device's default is the ``litert`` backend, which needs no mediapipe.
mediapipe 0.10.14–0.10.21 wheels bundle the Full landmark model and the detector; the Lite and
Heavy landmark models are fetched from the web by mediapipe itself, which this backend refuses
to let happen: asking for them without the file present is a clear error, never a download.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .landmarks import NUM_LANDMARKS, Pose, PoseError

log = logging.getLogger(__name__)

COMPLEXITY = {"lite": 0, "full": 1, "heavy": 2}
_MODEL_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite",
                2: "pose_landmark_heavy.tflite"}


def mediapipe_model_dir() -> Path:
    """The folder of the installed mediapipe's bundled pose models."""
    try:
        import mediapipe
    except ImportError as e:
        raise PoseError("the mediapipe pose backend needs mediapipe 0.10.14-0.10.21 (Python <= 3.12): "
                        "pip install 'formcheck[mediapipe]', or use pose_backend = \"litert\" "
                        "(the default; no mediapipe needed)") from e
    return Path(mediapipe.__file__).parent / "modules"


class MediapipePose:
    """``model``: lite | full | heavy (only full ships in the wheel). ``static``: treat every
    frame as unrelated (images) rather than a video with tracking."""

    name = "mediapipe"

    def __init__(self, model: str = "full", static: bool = False, smooth: bool = True,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 **_ignored):
        if model not in COMPLEXITY:
            raise PoseError(f"pose model {model!r}: choose one of {', '.join(COMPLEXITY)}")
        complexity = COMPLEXITY[model]
        f = mediapipe_model_dir() / "pose_landmark" / _MODEL_FILES[complexity]
        if not f.exists():
            raise PoseError(
                f"pose model {model!r} needs {f}, which this mediapipe wheel does not ship; "
                "formcheck never downloads models at run time. Use model='full' (bundled) or "
                "the litert backend, which ships lite and full (heavy on request)."
            )
        self._kw = dict(static_image_mode=static, model_complexity=complexity,
                        smooth_landmarks=smooth and not static, enable_segmentation=False,
                        min_detection_confidence=min_detection_confidence,
                        min_tracking_confidence=min_tracking_confidence)
        self._pose = None
        self._last_t = None
        self.reset()

    def reset(self) -> None:
        import mediapipe as mp

        if self._pose is not None:
            self._pose.close()
        self._pose = mp.solutions.pose.Pose(**self._kw)
        self._last_t = None

    def estimate(self, frame_rgb: np.ndarray, t: float) -> Pose:
        h, w = frame_rgb.shape[:2]
        # The graph insists on strictly increasing timestamps; a rewound clip starts over.
        if self._last_t is not None and t <= self._last_t and not self._kw["static_image_mode"]:
            self.reset()
        self._last_t = t
        frame = np.ascontiguousarray(frame_rgb)
        frame.flags.writeable = False
        res = self._pose.process(frame)
        if res.pose_landmarks is None:
            return Pose.none(t, (w, h))
        lm = np.array([(p.x, p.y, p.z, p.visibility) for p in res.pose_landmarks.landmark],
                      dtype=np.float32).reshape(NUM_LANDMARKS, 4)
        world = None
        if res.pose_world_landmarks is not None:
            world = np.array([(p.x, p.y, p.z, p.visibility) for p in res.pose_world_landmarks.landmark],
                             dtype=np.float32).reshape(NUM_LANDMARKS, 4)
        score = float(np.mean(lm[[0, 11, 12, 23, 24], 3]))
        return Pose(t=t, landmarks=lm, image_size=(w, h), score=score, world=world)

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
