"""Helpers several test modules share (tests/ is on sys.path: ``from helpers import ...``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from formcheck.device.exercises import EXERCISES


def wait_until(cond, timeout: float = 10.0, poll: float = 0.02) -> bool:
    """Poll ``cond`` until it is true or ``timeout`` seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(poll)
    return cond()


# ---- extraction inputs ---------------------------------------------------------------------------

def write_video(path: Path, n: int = 24, size=(320, 240), person: bool = True, fps: float = 30.0) -> Path:
    """A small mp4 (mp4v). With ``person`` a real photo of a person (skimage's astronaut)
    drifts across the frame; without, a white disc moves on grey."""
    import cv2
    from skimage.data import astronaut
    from skimage.transform import resize

    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    face = (resize(astronaut(), (200, 200)) * 255).astype(np.uint8)[:, :, ::-1]  # BGR
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert vw.isOpened()
    for i in range(n):
        frame = np.full((h, w, 3), 100, np.uint8)
        if person:
            x = 10 + i * 2
            frame[20:220, x:x + 200] = face
        else:
            cv2.circle(frame, (20 + 5 * i, h // 2), 15, (255, 255, 255), -1)
        vw.write(frame)
    vw.release()
    return path


AIHUB_KEYPOINTS = [
    "Nose", "Left Eye", "Right Eye", "Left Ear", "Right Ear", "Left Shoulder", "Right Shoulder",
    "Left Elbow", "Right Elbow", "Left Wrist", "Right Wrist", "Left Hip", "Right Hip", "Left Knee",
    "Right Knee", "Left Ankle", "Right Ankle", "Neck", "Left Palm", "Right Palm", "Back", "Waist",
    "Left Foot", "Right Foot"]


def aihub_doc(values=(True,) * 5, exercise: str = "바벨 컬 ", seed: int | None = None) -> dict:
    """An AI-Hub label file (barbell curl, 4 frames, five views). Keypoints on a fixed diagonal,
    or with ``seed`` at random places of its own (files whose landmarks differ)."""
    rng = None if seed is None else np.random.default_rng(seed)

    def point(i: int, v: int) -> dict:
        if rng is None:
            return {"x": 900 + 3 * i + v, "y": 100 + 30 * i}
        return {"x": int(rng.integers(300, 1600)), "y": int(rng.integers(50, 1000))}

    names = [c.name for c in EXERCISES["barbell_curl"].aihub_conditions]
    frames = [{f"view{v}": {"pts": {k: point(i, v) for i, k in enumerate(AIHUB_KEYPOINTS)},
                            "active": "Yes", "img_key": f"D/1/A/c/c-{2 * f + 1:07d}.jpg"}
               for v in range(1, 6)} for f in range(4)]
    return {"frames": frames, "type": "409", "type_info": {
        "key": "409", "type": "바벨/덤벨", "pose": "선 자세", "exercise": exercise,
        "conditions": [{"condition": n, "value": v} for n, v in zip(names, values, strict=True)],
        "description": ""}}


def write_json(path: Path, doc) -> Path:
    """``doc`` as JSON (a str is written as it is: for malformed files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


# ---- recorded poses -----------------------------------------------------------------------------

class RecordedPose:
    """A fake pose estimator: the recorded pose of a landmark sequence at or before each
    frame's time, whatever the frame shows (drives the station from any frame source)."""

    name = "recorded"

    def __init__(self, sequence):
        self.sequence = sequence

    def estimate(self, frame_rgb, t: float):
        from formcheck.device.capture.landmark_clip import recorded_pose
        from formcheck.device.pose.landmarks import Pose

        seq = self.sequence
        i = int(np.searchsorted(seq.t, t, side="right")) - 1
        if i < 0:
            return Pose.none(t, seq.image_size)
        pose = recorded_pose(seq, i)
        pose.t = t
        return pose

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def clip_source(sequence, realtime: bool = False):
    """A landmark sequence as the station's source (recorded poses, no estimator)."""
    from formcheck.device.capture.landmark_clip import LandmarkClipReader
    from formcheck.device.capture.sources import FrameSource

    return FrameSource(LandmarkClipReader(sequence), realtime=realtime)


def blank_frames(times, size=(64, 48)):
    """A file-like source of blank frames at ``times``: drives a fake pose estimator."""
    from formcheck.device.capture.sources import FrameSource, Reader

    class Blank(Reader):
        describe = "blank frames"

        def __init__(self):
            self.i = 0
            self.image = np.zeros((size[1], size[0], 3), np.uint8)

        def read(self):
            if self.i >= len(times):
                return None
            self.i += 1
            return self.image, float(times[self.i - 1])

    return FrameSource(Blank(), realtime=False)
