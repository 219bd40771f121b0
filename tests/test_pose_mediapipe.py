"""The mediapipe BlazePose backend on real pixels: a photo that ships with scikit-image, and
the reference videos when present."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from formcheck.device.pose.landmarks import LM, NUM_LANDMARKS, PoseError, create_estimator
from formcheck.device.pose.mediapipe_backend import mediapipe_model_dir

# mediapipe is an optional extra (formcheck[mediapipe], Python <= 3.12): without it these skip.
needs_mediapipe = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                                     reason="mediapipe is not installed (optional extra formcheck[mediapipe])")


@pytest.fixture(scope="module")
def astronaut():
    from skimage.data import astronaut

    return astronaut()  # 512x512 RGB uint8: Eileen Collins, head to upper body


def _check_astronaut(pose):
    assert pose.person
    lm = pose.landmarks
    assert lm.shape == (NUM_LANDMARKS, 4) and lm.dtype == np.float32
    nose_y = lm[LM["nose"], 1]
    shoulders_y = lm[[LM["left_shoulder"], LM["right_shoulder"]], 1]
    hips_y = lm[[LM["left_hip"], LM["right_hip"]], 1]
    # image y grows downwards: nose above both shoulders, shoulders above both hips
    assert (nose_y < shoulders_y).all()
    assert shoulders_y.max() < hips_y.min()
    face = [LM[n] for n in ("nose", "left_eye", "right_eye", "left_eye_inner", "right_eye_inner")]
    assert (lm[face, 3] > 0.9).all()
    # the face is in the upper-left half of the photo, where it is
    assert 0.3 < lm[LM["nose"], 0] < 0.55 and 0.15 < nose_y < 0.35


@needs_mediapipe
def test_astronaut_photo_static(astronaut):
    est = create_estimator("mediapipe", static=True)
    try:
        pose = est.estimate(astronaut, 1.5)
    finally:
        est.close()
    assert pose.t == 1.5 and pose.image_size == (512, 512)
    _check_astronaut(pose)
    assert pose.score > 0.5
    # the legacy API's world landmarks: metres, origin between the hips
    assert pose.world.shape == (NUM_LANDMARKS, 4) and pose.world.dtype == np.float32
    assert np.linalg.norm(pose.world[[LM["left_hip"], LM["right_hip"]], :3].mean(axis=0)) < 0.05


@needs_mediapipe
def test_astronaut_video_mode_and_no_person(astronaut):
    est = create_estimator("mediapipe")
    try:
        for i in range(3):
            _check_astronaut(est.estimate(astronaut, i / 30))
        blank = est.estimate(np.full((240, 320, 3), 127, np.uint8), 0.2)
        assert not blank.person and blank.landmarks is None and blank.image_size == (320, 240)
        # a rewound timestamp (a new clip) starts over instead of failing
        _check_astronaut(est.estimate(astronaut, 0.0))
    finally:
        est.close()


@needs_mediapipe
@pytest.mark.parametrize("model", ["lite", "heavy"])
def test_unbundled_models_are_a_clear_error_never_a_download(model):
    f = mediapipe_model_dir() / "pose_landmark" / f"pose_landmark_{model}.tflite"
    if f.exists():
        pytest.skip(f"{f} is installed here")
    with pytest.raises(PoseError) as e:
        create_estimator("mediapipe", model=model)
    msg = str(e.value)
    assert model in msg and "never downloads" in msg and "full" in msg
    assert not f.exists()  # nothing fetched behind our back


def test_without_mediapipe_the_error_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    with pytest.raises(PoseError, match=r"formcheck\[mediapipe\]"):
        create_estimator("mediapipe")


def test_bad_model_name_and_backend():
    with pytest.raises(PoseError, match="choose one of"):
        create_estimator("mediapipe", model="huge")
    with pytest.raises(PoseError, match="unknown pose backend"):
        create_estimator("openpose")


@needs_mediapipe
@pytest.mark.shared_data
def test_real_videos_person_in_95_percent_of_frames(videos_dir):
    import cv2

    files = sorted(videos_dir.glob("*.mp4"))
    assert files
    est = create_estimator("mediapipe")
    try:
        for f in files:
            cap = cv2.VideoCapture(str(f))
            n_total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
            # 90 consecutive frames from the middle of each clip (video mode tracks between
            # them), rather than the whole 1300 frames: the test stays quick
            start = max(0, n_total // 2 - 45)
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            est.reset()
            found = n = 0
            while n < 90:
                ok, bgr = cap.read()
                if not ok:
                    break
                pose = est.estimate(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), n / fps)
                assert pose.image_size == (bgr.shape[1], bgr.shape[0])
                found += pose.person
                n += 1
            cap.release()
            assert n >= min(60, n_total), f
            assert found / n >= 0.95, f"{f.name}: person in {found}/{n} frames"
    finally:
        est.close()
