"""The ``litert`` pose backend: BlazePose through LiteRT with the models shipped in the package,
checked against their manifest and against the mediapipe backend (when mediapipe is installed).

The agreement tests run both backends in video mode on the same consecutive frames. mediapipe's
legacy solution smooths on its own fixed 33.333 ms clock whatever timestamp it is given, so the
frames here are stamped on that clock: the comparison is then between the two pipelines, not
between two clocks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from formcheck.device.pose import bundled
from formcheck.device.pose.landmarks import LM, PAPER_LANDMARKS, Pose, PoseError, create_estimator
from formcheck.device.pose.litert_backend import (
    DEFAULT_MODEL,
    LitertPose,
    Roi,
    crop,
    roi_from_points,
    ssd_anchors,
)
from formcheck.device.pose.smoothing import LandmarkSmoother, OneEuroFilter, OneEuroParams

cv2 = pytest.importorskip("cv2")
HAVE_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
needs_mediapipe = pytest.mark.skipif(not HAVE_MEDIAPIPE, reason="mediapipe is not installed "
                                     "(optional extra formcheck[mediapipe], Python <= 3.12)")
SHIPPED = [e for e in bundled.manifest().values() if e.shipped]

MP_CLOCK = 0.033333  # mediapipe's legacy solution: one frame every 33333 µs
MAX_FRAMES = 60  # consecutive frames per clip, every clip (bench/pose.py runs whole clips)
BOUND = 0.01  # median landmark distance, normalised image coordinates


def _median_distance(a: list[Pose], b: list[Pose]) -> float:
    d = [np.linalg.norm(p.landmarks[PAPER_LANDMARKS, :2] - q.landmarks[PAPER_LANDMARKS, :2], axis=1)
         for p, q in zip(a, b, strict=True) if p.person and q.person]
    return float(np.median(np.concatenate(d))) if d else math.nan


def _run(estimator, frames: list[np.ndarray]) -> list[Pose]:
    try:
        return [estimator.estimate(f, (i + 1) * MP_CLOCK) for i, f in enumerate(frames)]
    finally:
        estimator.close()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A photo of a person (skimage's astronaut; a frame of a real clip without scikit-image)."""
    try:
        from skimage.data import astronaut

        return astronaut()
    except ImportError:
        pass
    from conftest import SHARED_DATA

    cap = cv2.VideoCapture(str(SHARED_DATA / "videos" / "squat_front.mp4"))
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        pytest.skip("neither scikit-image nor the shared clips are available")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def clip_frames(videos_dir: Path) -> dict[str, list[np.ndarray]]:
    """The first MAX_FRAMES frames (RGB) of every clip, decoded once."""
    clips = {}
    for path in sorted(videos_dir.glob("*.mp4")):
        cap = cv2.VideoCapture(str(path))
        frames = []
        while len(frames) < MAX_FRAMES:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        cap.release()
        if frames:
            clips[path.name] = frames
    if not clips:
        pytest.skip(f"no readable .mp4 clips in {videos_dir}")
    return clips


@pytest.fixture(scope="session")
def clip_poses(clip_frames) -> dict[str, tuple[list[Pose], list[Pose]]]:
    """Each clip through each backend's Full model once, in video mode: name -> (mediapipe, litert)."""
    if not HAVE_MEDIAPIPE:
        pytest.skip("mediapipe is not installed (optional extra formcheck[mediapipe])")
    return {name: (_run(create_estimator("mediapipe"), frames),
                   _run(create_estimator("litert", threads=2, model="full"), frames))
            for name, frames in clip_frames.items()}


# -- agreement with the mediapipe backend ----------------------------------------------------

@pytest.mark.shared_data
def test_videos_agree_with_mediapipe(clip_poses):
    report = {}
    for name, (mp_poses, lt_poses) in clip_poses.items():
        found_mp = np.array([p.person for p in mp_poses])
        found_lt = np.array([p.person for p in lt_poses])
        report[name] = dict(frames=len(mp_poses), person_mp=int(found_mp.sum()),
                            person_litert=int(found_lt.sum()),
                            disagree=np.flatnonzero(found_mp != found_lt).tolist(),
                            median=_median_distance(mp_poses, lt_poses))
    for name, r in report.items():
        assert r["person_mp"] > 0, f"mediapipe found nobody in {name}: {report}"
        assert not r["disagree"], f"{name}: person found on different frames: {report}"
        assert r["median"] <= BOUND, f"{name}: median landmark distance over {BOUND}: {report}"


@pytest.mark.shared_data
def test_video_poses_have_the_mediapipe_record_layout(clip_poses):
    for name, (mp_poses, lt_poses) in clip_poses.items():
        q = lt_poses[-1]
        assert q.landmarks.shape == (33, 4) and q.landmarks.dtype == np.float32, name
        assert q.image_size == mp_poses[-1].image_size
        both = [(p, q) for p, q in zip(mp_poses, lt_poses, strict=True) if p.person and q.person]
        a = np.array([p.landmarks[list(PAPER_LANDMARKS)] for p, _ in both])
        b = np.array([q.landmarks[list(PAPER_LANDMARKS)] for _, q in both])
        # z is in x's units on mediapipe's scale (hips near 0), visibility in 0..1 likewise.
        dz = np.abs(a[..., 2] - b[..., 2])
        assert np.median(dz) < 0.2 * a[..., 2].std(), name
        assert np.corrcoef(a[..., 2].ravel(), b[..., 2].ravel())[0, 1] > 0.8, name
        assert 0.0 <= b[..., 3].min() and b[..., 3].max() <= 1.0
        assert np.median(np.abs(a[..., 3] - b[..., 3])) < 0.05, name
        assert np.median([abs(p.score - q.score) for p, q in both]) < 0.05, name
        # Tracking: the detector ran on the first frame only (the person never leaves).
        assert lt_poses[0].extra["detector"], name
        assert not any(x.extra["detector"] for x in lt_poses[1:]), name


@pytest.mark.shared_data
def test_world_landmarks_agree_with_mediapipe(clip_poses):
    for name, (mp_poses, lt_poses) in clip_poses.items():
        both = [(p, q) for p, q in zip(mp_poses, lt_poses, strict=True) if p.person and q.person]
        a = np.array([p.world[list(PAPER_LANDMARKS), :3] for p, _ in both])
        b = np.array([q.world[list(PAPER_LANDMARKS), :3] for _, q in both])
        assert b.dtype == np.float32
        # metres, hip-centred: the same model's world output, its depth the noisiest axis
        assert np.median(np.linalg.norm(a - b, axis=-1)) < 0.1, name
        for k in range(3):
            assert np.corrcoef(a[..., k].ravel(), b[..., k].ravel())[0, 1] > 0.8, (name, k)


@needs_mediapipe
def test_photo_agrees_with_mediapipe(astronaut):
    mp = create_estimator("mediapipe", static=True).estimate(astronaut, 0.0)
    lt = create_estimator("litert", static=True, model="full").estimate(astronaut, 0.0)
    assert mp.person and lt.person
    assert lt.image_size == (astronaut.shape[1], astronaut.shape[0])
    assert _median_distance([mp], [lt]) <= BOUND


# -- behaviour -----------------------------------------------------------------------------

def test_blank_frame_gives_no_person():
    est = LitertPose(threads=1)
    pose = est.estimate(np.zeros((480, 640, 3), np.uint8), 1.0)
    assert pose == Pose.none(1.0, (640, 480))
    assert not est.tracking


def test_reset_drops_tracking(astronaut):
    est = LitertPose(threads=1)
    first = est.estimate(astronaut, 1.0)
    assert first.person and first.extra["detector"] and est.tracking
    second = est.estimate(astronaut, 1.1)
    assert second.person and not second.extra["detector"]  # tracked from the first frame
    est.reset()
    assert not est.tracking
    assert est.estimate(astronaut, 1.2).extra["detector"]  # back to the detector


def test_rewound_timestamps_start_over(astronaut):
    est = LitertPose(threads=1)
    est.estimate(astronaut, 5.0)
    assert est.estimate(astronaut, 0.0).extra["detector"]


# -- two frames in flight --------------------------------------------------------------------

@pytest.mark.shared_data
def test_pipelined_poses_come_back_in_order_and_agree_with_one_frame_at_a_time(clip_frames):
    """Two frames in the models at once: every pose is its own frame's, in order; one frame at
    a time (``estimate``) the pipelined estimator gives exactly the sequential one's poses, and
    with its pipeline full they stay within twice the bound the backends agree to (a tracked
    crop one frame older moves the landmarks: on the first 60 frames of the fast squats of
    `squat_front.mp4` by 0.011 median, against 0.0019 over every real clip's frames in
    bench/pose.py)."""
    from formcheck.device.pose.landmarks import estimate_all

    for name in ("squat_front.mp4", "side_lunge_front.mp4"):
        frames = clip_frames.get(name)
        if frames is None:
            continue
        items = [(f, (i + 1) * MP_CLOCK) for i, f in enumerate(frames)]
        one = _run(LitertPose(threads=2, pipeline=1), frames)
        est = LitertPose(threads=2, pipeline=2)
        try:
            same = [est.estimate(f, t) for f, t in items]
            est.reset()
            piped = list(estimate_all(est, items))
            assert est.in_flight == 0
        finally:
            est.close()
        for a, b in zip(one, same, strict=True):
            assert a.t == b.t and a.person == b.person
            if a.person:
                np.testing.assert_array_equal(a.landmarks, b.landmarks)
        assert [p.t for p in piped] == [t for _, t in items]
        assert sum(p.person for p in piped) >= sum(p.person for p in one) - 1
        assert _median_distance(one, piped) < 2 * BOUND, name


def test_submit_and_collect_keep_their_order_and_refuse_misuse(astronaut):
    est = LitertPose(threads=2, pipeline=2)
    with pytest.raises(PoseError, match="no frame in flight"):
        est.collect()
    est.submit(astronaut, 1.0)
    est.submit(astronaut, 1.1)
    with pytest.raises(PoseError, match="already in flight"):
        est.submit(astronaut, 1.2)
    with pytest.raises(PoseError, match="collect"):
        est.estimate(astronaut, 1.2)
    first, second = est.collect(), est.collect()
    assert (first.t, second.t) == (1.0, 1.1) and first.person and second.person
    # both were submitted before any pose was collected: both from the detector
    assert first.extra["detector"] and second.extra["detector"]
    assert not est.estimate(astronaut, 1.2).extra["detector"]  # tracked from the last collected
    est.submit(astronaut, 0.5)  # rewound: starts over from the detector
    assert est.collect().extra["detector"]
    with pytest.raises(PoseError, match="RGB uint8"):
        est.submit(np.zeros((4, 4), np.uint8), 2.0)
    assert est.in_flight == 0
    est.close()


def test_estimate_all_leaves_nothing_in_flight_when_the_consumer_stops_early(astronaut):
    from formcheck.device.pose.landmarks import estimate_all

    est = LitertPose(threads=2, pipeline=2)
    poses = estimate_all(est, ((astronaut, 1.0 + i / 30) for i in range(10)))
    assert next(poses).t == 1.0 and est.in_flight == 2  # the next two frames in the models
    poses.close()
    assert est.in_flight == 0 and est.estimate(astronaut, 2.0).person
    est.close()


def test_track_false_runs_the_detector_on_every_frame(astronaut):
    est = LitertPose(threads=1, track=False)
    poses = [est.estimate(astronaut, t) for t in (0.0, 0.1, 0.2)]
    assert all(p.person and p.extra["detector"] for p in poses)


def test_threads_option_reaches_the_interpreter(monkeypatch):
    from ai_edge_litert import interpreter as litert

    created = []
    real = litert.Interpreter

    class Spy(real):
        def __init__(self, *args, num_threads=None, **kwargs):
            created.append(num_threads)
            super().__init__(*args, num_threads=num_threads, **kwargs)

    monkeypatch.setattr(litert, "Interpreter", Spy)
    LitertPose(threads=3)
    assert created == [3, 3]  # detector and landmark model
    created.clear()
    est = LitertPose(threads=3, pipeline=2)  # two frames in flight: the threads shared out
    assert est.pipeline == 2 and sorted(created) == [1, 1, 2, 2]
    created.clear()
    est = LitertPose(threads=1, pipeline=2)  # one thread: one frame at a time
    assert est.pipeline == 1 and created == [1, 1]
    created.clear()
    est = LitertPose()  # 0 = every core
    assert created == [os.cpu_count()] * 2 and est.threads == os.cpu_count()


def test_unknown_options_are_ignored():
    assert create_estimator("litert", threads=1, model="full", some_future_option=1).name == "litert"


@pytest.mark.parametrize("kwargs, field", [
    ({"threads": -1}, "threads"), ({"threads": "2"}, "threads"), ({"threads": 1.5}, "threads"),
    ({"pipeline": 0}, "pipeline"), ({"pipeline": "2"}, "pipeline"), ({"pipeline": True}, "pipeline"),
    ({"min_detection_confidence": 1.5}, "min_detection_confidence"),
    ({"min_tracking_confidence": "high"}, "min_tracking_confidence"),
])
def test_bad_options_name_the_field(kwargs, field):
    with pytest.raises(PoseError, match=field):
        LitertPose(**kwargs)


# -- the shipped models -----------------------------------------------------------------------

def test_manifest_matches_the_shipped_files():
    names = {e.file for e in SHIPPED}
    assert names == {"pose_detection.tflite", "pose_landmark_lite.tflite", "pose_landmark_full.tflite"}
    for e in SHIPPED:
        data = (bundled.MODELS_DIR / e.file).read_bytes()
        assert len(data) == e.size and hashlib.sha256(data).hexdigest() == e.sha256, e.file
        assert e.source["registry"] in ("pypi", "npm") and e.source["version"], e.file
    heavy = bundled.landmark_file("heavy")
    assert not heavy.shipped and heavy.source["package"] == "@mediapipe/pose"
    # the npm Full is the wheel's Full, byte for byte (same hash, recorded once)
    assert "byte-identical" in bundled.landmark_file("full").source["also_in"]
    for f in ("LICENSE", "NOTICE"):
        text = (bundled.MODELS_DIR / f).read_text()
        assert "Apache License" in text or "Apache License, Version 2.0" in text, f


@pytest.mark.parametrize("model", ["lite", "full"])
def test_each_shipped_model_loads_from_the_package_and_finds_the_person(model, astronaut):
    est = LitertPose(threads=1, model=model)
    assert est.model_paths["landmarks"] == bundled.MODELS_DIR / f"pose_landmark_{model}.tflite"
    assert est.model_paths["detector"] == bundled.MODELS_DIR / "pose_detection.tflite"
    pose = est.estimate(astronaut, 0.0)
    assert pose.person and pose.landmarks.shape == (33, 4)


def test_default_model_is_the_configured_one():
    from formcheck.device.app.config import Config

    assert Config().station.pose_backend == "litert"
    assert Config().station.pose_model == DEFAULT_MODEL
    assert LitertPose(threads=1).model == DEFAULT_MODEL


def test_world_landmarks_are_metres_around_the_hips(astronaut):
    pose = LitertPose(threads=1, model="full", static=True).estimate(astronaut, 0.0)
    w = pose.world
    assert w.shape == (33, 4) and w.dtype == np.float32
    hips = w[[LM["left_hip"], LM["right_hip"]], :3]
    assert np.linalg.norm(hips.mean(axis=0)) < 0.05  # origin between the hips
    shoulders = w[[LM["left_shoulder"], LM["right_shoulder"]], :3]
    # an adult's body in metres, in 3D (the same whichever way the person faces)
    width = np.linalg.norm(shoulders[0] - shoulders[1])
    torso = np.linalg.norm(shoulders.mean(axis=0) - hips.mean(axis=0))
    assert 0.15 < width < 0.6 and 0.25 < torso < 0.7, (width, torso)
    assert w[LM["nose"], 1] < 0 and (shoulders[:, 1] < 0).all()  # image axes: y down, above the hips
    np.testing.assert_array_equal(w[:, 3], pose.landmarks[:, 3])  # visibility shared


@pytest.mark.parametrize("model", ["lite", "full"])
def test_the_pruned_landmark_model_gives_the_same_bits_without_the_mask(model, astronaut):
    """The segmentation mask is pruned at load (nothing reads it); every other output is
    bit-for-bit the whole model's on a real picture, and the graph lost operators."""
    from ai_edge_litert.interpreter import Interpreter

    from formcheck.device.pose import pruning
    from formcheck.device.pose.litert_backend import SEGMENTATION_SHAPE

    whole = (bundled.MODELS_DIR / f"pose_landmark_{model}.tflite").read_bytes()
    pruned, removed = pruning.without_outputs(whole, lambda shape: shape == SEGMENTATION_SHAPE)
    assert removed > 0 and pruned != whole
    x = cv2.resize(astronaut, (256, 256)).astype(np.float32)[None] / 255.0
    outs = []
    for data in (whole, pruned):
        it = Interpreter(model_content=data, num_threads=1)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outs.append({tuple(d["shape"]): it.get_tensor(d["index"]) for d in it.get_output_details()})
    assert SEGMENTATION_SHAPE in outs[0] and SEGMENTATION_SHAPE not in outs[1]
    assert set(outs[1]) == set(outs[0]) - {SEGMENTATION_SHAPE}
    for shape, value in outs[1].items():
        np.testing.assert_array_equal(value, outs[0][shape], err_msg=str(shape))
    # the estimator itself runs the pruned graph
    est = LitertPose(threads=2, model=model, pipeline=2)
    assert est.pipeline == 2  # every slot's interpreter
    for ms in est.model_sets:
        assert SEGMENTATION_SHAPE not in {tuple(d["shape"]) for d in ms.lmk.get_output_details()}


def test_pruning_refuses_bytes_that_are_not_a_model_and_keeps_a_model_with_nothing_to_drop():
    from formcheck.device.pose import pruning

    with pytest.raises(ValueError, match="TFLite"):
        pruning.without_outputs(b"not a model at all", lambda shape: True)
    detector = (bundled.MODELS_DIR / "pose_detection.tflite").read_bytes()
    assert pruning.without_outputs(detector, lambda shape: False) == (detector, 0)


def _copy_models(dst: Path, model: str = "full", nested: bool = False) -> dict[str, Path]:
    out = {}
    for e in (bundled.detector_file(), bundled.landmark_file(model)):
        sub = {"detector": "pose_detection", "landmarks": "pose_landmark"}[e.role] if nested else ""
        p = dst / sub / e.file
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled.MODELS_DIR / e.file, p)
        out[e.role] = p
    return out


@pytest.mark.parametrize("nested", [False, True], ids=["side-by-side", "mediapipe-layout"])
def test_model_dir_option_loads_checked_models_from_there(tmp_path, astronaut, nested):
    paths = _copy_models(tmp_path, "full", nested)
    est = LitertPose(threads=1, model="full", model_dir=str(tmp_path))
    assert est.model_dir == tmp_path and est.model_paths == paths
    assert est.estimate(astronaut, 0.0).person


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered", "not-a-file"])
@pytest.mark.parametrize("role", ["detector", "landmarks"])
def test_damaged_model_is_refused_at_start_naming_the_file(tmp_path, damage, role):
    path = _copy_models(tmp_path)[role]
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "altered":  # same size, one byte flipped: only the hash can tell
        path.write_bytes(data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:])
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(PoseError) as err:
        LitertPose(threads=1, model="full", model_dir=tmp_path)
    msg = str(err.value)
    assert str(path) in msg
    assert {"missing": "not found", "truncated": "truncated", "altered": "sha256",
            "not-a-file": "not a file"}[damage] in msg


def test_damaged_packaged_model_is_refused(tmp_path, monkeypatch):
    for e in SHIPPED:
        shutil.copy(bundled.MODELS_DIR / e.file, tmp_path / e.file)
    (tmp_path / "pose_landmark_lite.tflite").write_bytes(b"\0" * bundled.landmark_file("lite").size)
    monkeypatch.setattr(bundled, "MODELS_DIR", tmp_path)
    with pytest.raises(PoseError, match=re.escape(str(tmp_path / "pose_landmark_lite.tflite")) + ".*sha256"):
        create_estimator("litert", threads=1, model="lite")
    assert create_estimator("litert", threads=1, model="full").model == "full"  # the others still load


def test_heavy_not_installed_says_how_to_install_it(tmp_path, monkeypatch):
    for e in SHIPPED:
        shutil.copy(bundled.MODELS_DIR / e.file, tmp_path / e.file)
    monkeypatch.setattr(bundled, "MODELS_DIR", tmp_path)
    with pytest.raises(PoseError, match="formcheck-pose-models install heavy"):
        LitertPose(threads=1, model="heavy")


def test_unknown_model_is_refused():
    with pytest.raises(PoseError, match="lite, full, heavy"):
        LitertPose(threads=1, model="huge")


def test_install_heavy_from_a_tarball_checks_the_hash(tmp_path, monkeypatch):
    """The one-time install, from an npm tarball (no network): the file is checked before it is
    put in place, and a tarball holding a different file is refused."""
    import dataclasses

    files = dict(bundled.manifest())
    lite, heavy = files["pose_landmark_lite.tflite"], files["pose_landmark_heavy.tflite"]
    # a stand-in package whose "heavy" is the Lite file (keeps the test small and offline)
    files[heavy.file] = dataclasses.replace(heavy, size=lite.size, sha256=lite.sha256)
    monkeypatch.setattr(bundled, "manifest", lambda: files)
    member = heavy.source["path_in_package"]
    good = tmp_path / "good.tgz"
    with tarfile.open(good, "w:gz") as tf:
        tf.add(bundled.MODELS_DIR / lite.file, arcname=member)
    dest = tmp_path / "models"
    assert bundled.main(["install", "heavy", "--tarball", str(good), "--dest", str(dest)]) == 0
    assert (dest / heavy.file).read_bytes() == (bundled.MODELS_DIR / lite.file).read_bytes()
    bad = tmp_path / "bad.tgz"
    with tarfile.open(bad, "w:gz") as tf:
        tf.add(bundled.MODELS_DIR / "pose_landmark_full.tflite", arcname=member)
    with pytest.raises(PoseError, match="expected"):
        bundled.install("heavy", bad, tmp_path / "other")
    assert not (tmp_path / "other" / heavy.file).exists()


def test_pose_models_cli_lists_and_verifies(capsys):
    assert bundled.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "pose_landmark_lite.tflite" in out and "npm @mediapipe/pose" in out
    assert bundled.main(["verify"]) == 0
    assert "BAD" not in capsys.readouterr().out


def test_manifest_is_valid_json_with_one_entry_per_file():
    data = json.loads(bundled.MANIFEST.read_text())
    files = [e["file"] for e in data["files"]]
    assert len(files) == len(set(files)) == 4 and data["license"] == "Apache-2.0"


def test_rejects_frames_that_are_not_rgb_uint8():
    est = LitertPose(threads=1)
    with pytest.raises(PoseError, match="RGB uint8"):
        est.estimate(np.zeros((48, 64), np.uint8), 0.0)
    with pytest.raises(PoseError, match="RGB uint8"):
        est.estimate(np.zeros((48, 64, 3), np.float32), 0.0)


def test_never_loads_mediapipe_or_tensorflow():
    code = ("import sys, numpy as np\n"
            "from formcheck.device.pose.landmarks import create_estimator\n"
            "est = create_estimator('litert', threads=1)\n"
            "est.estimate(np.zeros((64, 64, 3), np.uint8), 0.0)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('mediapipe', 'tensorflow'))\n"
            "assert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


# -- geometry ------------------------------------------------------------------------------

def test_ssd_anchors_follow_the_pose_detector_layout():
    a = ssd_anchors()
    assert a.shape == (2254, 2)
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[1], a[0])  # two anchors per cell on the stride-8 grid
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[28 * 28 * 2], [0.5 / 14, 0.5 / 14])
    # The three stride-32 layers share one 7x7 grid with 6 anchors per cell.
    np.testing.assert_allclose(a[-6:], np.tile([6.5 / 7, 6.5 / 7], (6, 1)))


def test_roi_from_points_upright_and_lying():
    size = (200, 100)  # wide image: a square ROI in pixels is not square in normalised units
    up, scale = roi_from_points(np.array([0.5, 0.6]), np.array([0.5, 0.2]), size)
    assert math.isclose(up.rotation, 0.0, abs_tol=1e-6)
    assert math.isclose(up.w * size[0], up.h * size[1], rel_tol=1e-6)  # square in pixels
    assert math.isclose(up.h * size[1], 2 * 40 * 1.25, rel_tol=1e-6)  # twice |p0 p1|, ×1.25
    assert math.isclose(scale, 80.0, rel_tol=1e-6)
    assert (up.x, up.y) == (np.float32(0.5), np.float32(0.6))
    lying, _ = roi_from_points(np.array([0.5, 0.5]), np.array([0.7, 0.5]), size)  # head to the right
    assert math.isclose(lying.rotation, math.pi / 2, abs_tol=1e-6)


def test_rotated_crop_puts_the_head_up():
    # A bright dot 40 px to the right of the ROI centre; with the body lying head-right the
    # crop is rotated so that the dot ends up at the top centre of the crop.
    img = np.zeros((200, 200, 3), np.uint8)
    cv2.circle(img, (140, 100), 4, (255, 255, 255), -1)
    roi = Roi(np.float32(0.5), np.float32(0.5), np.float32(0.5), np.float32(0.5), np.float32(math.pi / 2))
    out, pad = crop(img, roi, 100, cv2.BORDER_CONSTANT)
    ys, xs = np.nonzero(out[:, :, 0] > 128)
    assert abs(xs.mean() - 50) < 2 and abs(ys.mean() - 10) < 2
    assert not pad.any()


# -- smoothing -----------------------------------------------------------------------------

def _filtered(params: OneEuroParams, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    f = OneEuroFilter(params)
    return np.array([f.apply(np.array([v]), ti, 1 / 200)[0] for v, ti in zip(values, t, strict=True)])


def test_one_euro_trades_jitter_for_lag_through_beta():
    rng = np.random.default_rng(0)
    t = np.arange(120) / 30.0
    still = 100 + rng.normal(0, 1.0, t.size)  # a still joint with 1 px of jitter
    moving = 100 + 300 * t  # a joint moving at 300 px/s
    calm, quick = OneEuroParams(min_cutoff=1.0, beta=0.0), OneEuroParams(min_cutoff=1.0, beta=80.0)
    assert _filtered(calm, still, t)[30:].std() < 0.5 * still[30:].std()  # jitter removed
    lag_calm = moving[-1] - _filtered(calm, moving, t)[-1]
    lag_quick = moving[-1] - _filtered(quick, moving, t)[-1]
    assert lag_calm > 30  # a plain low-pass trails a fast joint by centimetres...
    assert 0 < lag_quick < 0.2 * lag_calm  # ...beta opens the cutoff when the joint moves


def test_one_euro_first_sample_stale_timestamps_and_reset():
    f = OneEuroFilter(OneEuroParams(min_cutoff=0.01))
    assert f.apply(np.array([5.0]), 1.0)[0] == 5.0  # first sample passes through
    smoothed = f.apply(np.array([15.0]), 1.1)[0]
    assert 5.0 < smoothed < 15.0
    assert f.apply(np.array([99.0]), 1.1)[0] == 99.0  # same timestamp: returned unfiltered
    assert 5.0 < f.apply(np.array([15.0]), 1.2)[0] < 15.0  # ...and the state was left alone
    f.reset()
    assert f.apply(np.array([42.0]), 0.5)[0] == 42.0


def test_landmark_smoother_filters_in_pixels_and_smooths_visibility():
    s = LandmarkSmoother(OneEuroParams(min_cutoff=0.05, beta=0.0))
    first = np.array([[0.5, 0.5, 0.0, 1.0]], np.float32)
    np.testing.assert_array_equal(s.apply(first, 0.0, (640, 480), 100.0), first)
    second = s.apply(np.array([[0.6, 0.5, 0.0, 0.0]], np.float32), 1 / 30, (640, 480), 100.0)
    assert 0.5 < second[0, 0] < 0.6 and second[0, 1] == np.float32(0.5)
    assert math.isclose(second[0, 3], 0.9, rel_tol=1e-6)  # visibility: low-pass, alpha 0.1
