"""The feature contract against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from formcheck.device.judging.features import (
    DEFAULT_ANGLES,
    FeatureSpec,
    MissingFiller,
    SpecError,
    aspect_corrected,
    feet_unseen,
    fill_missing,
    frame_features,
    joint_angles,
    mirror_features,
    sequence_features,
    shins_down,
)
from formcheck.device.judging.windows import StreamWindower, rep_window, resample, sliding_windows
from formcheck.device.pose.landmarks import MIRROR, PAPER_LANDMARKS


def standing_pose(rng=None) -> np.ndarray:
    """A plausible front-view standing pose (33, 4), y down, visibility 1."""
    lm = np.zeros((33, 4), np.float32)
    lm[:, 3] = 1.0
    pts = {
        0: (0.50, 0.20), 11: (0.44, 0.30), 12: (0.56, 0.30), 13: (0.42, 0.40), 14: (0.58, 0.40),
        15: (0.41, 0.50), 16: (0.59, 0.50), 23: (0.46, 0.55), 24: (0.54, 0.55), 25: (0.46, 0.70),
        26: (0.54, 0.70), 27: (0.46, 0.85), 28: (0.54, 0.85), 29: (0.46, 0.87), 30: (0.54, 0.87),
        31: (0.45, 0.89), 32: (0.55, 0.89),
    }
    for i in range(33):
        lm[i, :2] = pts.get(i, (0.5, 0.25))
    if rng is not None:
        lm[:, :2] += rng.normal(0, 0.01, (33, 2))
    return lm


def test_right_angle_is_90_degrees():
    xyz = np.zeros((33, 3))
    xyz[11] = (0, 0, 0)  # shoulder
    xyz[13] = (1, 0, 0)  # elbow (vertex)
    xyz[15] = (1, 1, 0)  # wrist
    ang = joint_angles(xyz, [(11, 13, 15)])
    assert ang[0] == pytest.approx(90.0)


def test_straight_and_folded_angles():
    xyz = np.zeros((33, 3))
    xyz[23], xyz[25], xyz[27] = (0, 0, 0), (0, 1, 0), (0, 2, 0)
    assert joint_angles(xyz, [(23, 25, 27)])[0] == pytest.approx(180.0)
    xyz[27] = (0.0, 0.0, 0)  # ankle back at the hip: fully folded
    assert joint_angles(xyz, [(23, 25, 27)])[0] == pytest.approx(0.0, abs=1e-6)
    xyz[27] = (1, 1 + 3 ** 0.5, 0)  # 60 degrees from straight -> 120 interior? vector (1, sqrt3)
    # thigh points up (0,-1), shin (1, sqrt3)/2: cos = -sqrt3/2 -> 150 degrees
    assert joint_angles(xyz, [(23, 25, 27)])[0] == pytest.approx(150.0)


def test_coincident_points_give_nan_not_zero():
    xyz = np.zeros((33, 3))
    assert np.isnan(joint_angles(xyz, [(11, 13, 15)])[0])


def test_aspect_correction_makes_angles_true_on_wide_images():
    # On a 1920x1080 frame, normalised (0.1, 0) and (0, 0.1*16/9) are equally long in pixels;
    # so a right angle in pixels is a right angle after correction, not before.
    lm = np.zeros((33, 4))
    lm[13, :2] = (0.5, 0.5)
    lm[11, :2] = (0.5 + 0.1, 0.5)
    lm[15, :2] = (0.5, 0.5 + 0.1 * 16 / 9)
    corrected = aspect_corrected(lm, (1920, 1080))
    assert joint_angles(corrected, [(11, 13, 15)])[0] == pytest.approx(90.0)
    # a 45-degree diagonal in pixels
    lm[15, :2] = (0.5 + 0.1, 0.5 + 0.1 * 16 / 9)
    assert joint_angles(aspect_corrected(lm, (1920, 1080)), [(11, 13, 15)])[0] == pytest.approx(45.0)


def test_feature_layout_and_count():
    spec = FeatureSpec()
    assert spec.landmarks == PAPER_LANDMARKS and len(spec.landmarks) == 17
    assert len(spec.angles) == 10 and spec.angles == DEFAULT_ANGLES
    assert spec.num_features == 17 * 2 + 10
    assert len(spec.feature_names()) == spec.num_features
    assert spec.feature_names()[:2] == ["nose.x", "nose.y"]
    assert spec.feature_names()[-1] == "angle.right_ankle"
    assert FeatureSpec(feature_set="landmarks").num_features == 34
    assert FeatureSpec(coords="xyz").num_features == 17 * 3 + 10


def test_none_normalisation_is_image_coordinates():
    lm = standing_pose()
    spec = FeatureSpec(normalisation="none", feature_set="landmarks")
    f = frame_features(lm[None], spec)
    np.testing.assert_allclose(f[0], lm[list(PAPER_LANDMARKS), :2].reshape(-1), atol=1e-6)


def test_body_normalisation_origin_and_scale():
    lm = standing_pose()
    spec = FeatureSpec(normalisation="body-upright", feature_set="landmarks")
    f = frame_features(lm[None], spec).reshape(17, 2)
    # hips at index 7, 8 of the 17: their midpoint is the origin
    np.testing.assert_allclose((f[7] + f[8]) / 2, 0, atol=1e-6)
    # shoulder midpoint one torso length above (y down -> -1)
    np.testing.assert_allclose((f[1] + f[2]) / 2, (0, -1), atol=1e-6)


def _similarity(lm, angle_deg, scale, shift, image_size=(1000, 1000)):
    out = lm.copy()
    th = np.radians(angle_deg)
    r = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    c = np.array([0.5, 0.5])
    out[:, :2] = (lm[:, :2] - c) @ r.T * scale + c + shift
    return out


@pytest.mark.parametrize("angle,scale,shift", [(0, 0.5, (0.1, -0.05)), (20, 1.3, (0, 0)), (-35, 0.7, (0.2, 0.1))])
def test_body_normalisation_invariant_to_rotation_scale_translation(angle, scale, shift):
    rng = np.random.default_rng(0)
    lm = standing_pose(rng)
    spec = FeatureSpec(normalisation="body")
    moved = _similarity(lm, angle, scale, np.array(shift))
    np.testing.assert_allclose(frame_features(lm[None], spec), frame_features(moved[None], spec), atol=1e-4)


def test_body_upright_keeps_gravity_but_ignores_position_and_distance():
    lm = standing_pose(np.random.default_rng(1))
    spec = FeatureSpec(normalisation="body-upright")
    moved = _similarity(lm, 0, 0.6, np.array([0.15, 0.05]))
    np.testing.assert_allclose(frame_features(lm[None], spec), frame_features(moved[None], spec), atol=1e-4)
    lying = _similarity(lm, 90, 1.0, np.zeros(2))
    assert not np.allclose(frame_features(lm[None], spec), frame_features(lying[None], spec), atol=1e-2)


def test_angles_scaled_into_feature_vector():
    lm = standing_pose()
    spec = FeatureSpec(normalisation="none")
    f = frame_features(lm[None], spec)[0]
    expected = joint_angles(lm[:, :3].astype(np.float64), DEFAULT_ANGLES) / 180.0
    np.testing.assert_allclose(f[34:], expected, atol=1e-6)
    assert f[34 + 6] == pytest.approx(1.0, abs=1e-6)  # left knee straight: 180 degrees


def test_angles_in_plain_degrees_when_the_spec_asks():
    """The paper preset's unscaled degrees: same angles x 180, coordinates untouched, and a model
    bundle's spec says which it was trained on."""
    lm = standing_pose()[None]
    unit = frame_features(lm, FeatureSpec(normalisation="none"))[0]
    spec = FeatureSpec(normalisation="none", angle_unit="degrees")
    deg = frame_features(lm, spec)[0]
    np.testing.assert_allclose(deg[:34], unit[:34])
    np.testing.assert_allclose(deg[34:], unit[34:] * 180.0, rtol=1e-5)
    assert deg[34 + 6] == pytest.approx(180.0, abs=1e-3)
    assert FeatureSpec.from_json(spec.to_json()).angle_unit == "degrees"
    with pytest.raises(SpecError, match="angle_unit"):
        FeatureSpec(angle_unit="radians")


def test_spec_json_round_trip_and_errors():
    spec = FeatureSpec(window=20, window_mode="rep", normalisation="body", sample_rate=10.0)
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(spec.to_json())["angles"][0] == [11, 13, 15]
    with pytest.raises(SpecError, match="normalisation"):
        FeatureSpec(normalisation="unit")
    with pytest.raises(SpecError, match="window"):
        FeatureSpec.from_dict({**spec.to_dict(), "window": 1})
    with pytest.raises(SpecError, match="version"):
        FeatureSpec.from_dict({**spec.to_dict(), "version": 99})
    with pytest.raises(SpecError, match="colour"):
        FeatureSpec.from_dict({**spec.to_dict(), "colour": "red"})
    with pytest.raises(SpecError, match="landmarks"):
        FeatureSpec.from_dict({**spec.to_dict(), "landmarks": [0, 40]})


def test_feet_out_of_view_are_drawn_straight_down_only_under_shins_down():
    """A picture that cuts the feet off: BlazePose draws them in, as bent shins. Under
    ``unseen_feet = "shins_down"`` both feet go straight down from the knees at typical
    proportions; one foot in view (a side view's far foot hidden) changes nothing; old specs
    keep BlazePose's points."""
    lm = np.stack([standing_pose()] * 3)
    lm[:, 27:33, 1] -= 0.08  # drawn in: shins shortened and bent
    lm[:, 27:33, 0] += 0.03
    lm[1, 27:33, 3] = 0.2  # frame 1: both feet out of view (low visibility)
    lm[2, [27, 29, 31], 3] = 0.2  # frame 2: only the left foot hidden
    assert feet_unseen(lm).tolist() == [False, True, False]
    out = shins_down(lm, (640, 480))
    assert np.array_equal(out[[0, 2]], lm[[0, 2]])
    torso = np.hypot(0.0 * 640 / 480, 0.25)  # mid-shoulder (0.5, 0.30) to mid-hip (0.5, 0.55)
    for knee, ankle, toe in ((25, 27, 31), (26, 28, 32)):
        assert out[1, ankle, 0] == pytest.approx(lm[1, knee, 0])
        assert out[1, ankle, 1] == pytest.approx(lm[1, knee, 1] + 0.85 * torso)
        assert out[1, toe, 1] == pytest.approx(lm[1, knee, 1] + 1.0 * torso)
    assert np.array_equal(out[1, :25], lm[1, :25])  # nothing above the knees moves
    # a foot beyond the picture's edge is out of view whatever its visibility
    below = lm[0].copy()
    below[27:33, 1] = 1.1
    assert feet_unseen(below[None]).tolist() == [True]
    # the spec decides, and round-trips; an unknown convention is refused by name
    spec = FeatureSpec(unseen_feet="shins_down")
    assert FeatureSpec.from_json(spec.to_json()) == spec
    assert not np.allclose(frame_features(lm, spec, (640, 480))[1], frame_features(lm, FeatureSpec(), (640, 480))[1])
    assert np.allclose(frame_features(lm, spec, (640, 480))[0], frame_features(lm, FeatureSpec(), (640, 480))[0])
    with pytest.raises(SpecError, match="unseen_feet"):
        FeatureSpec(unseen_feet="guess")
    # a pose with no feet at all (another estimator's keypoints) stays valid under shins_down
    t = np.arange(40) / 20.0
    nofeet = np.stack([standing_pose()] * 40)
    nofeet[:, 27:33] = np.nan
    assert not sequence_features(t, nofeet, FeatureSpec(), (640, 480))[1].any()
    feats, valid = sequence_features(t, nofeet, spec, (640, 480))
    assert valid.all() and np.isfinite(feats).all()


def test_missing_landmarks_are_never_zeros_that_look_like_a_pose():
    spec = FeatureSpec(min_visibility=0.2)
    t = np.arange(10) / 10.0
    lm = np.repeat(standing_pose()[None], 10, axis=0)
    lm[3:, 25, 3] = 0.05  # left knee invisible from frame 3 on
    lm[5] = np.nan  # no person at frame 5: a one-frame dropout is bridged
    feats, valid = sequence_features(t, lm, spec)
    # the knee is held for max_gap_s = 0.5 s after its last sighting at t=0.2, i.e. up to t=0.7
    assert valid.tolist() == [True] * 8 + [False] * 2
    assert np.isnan(feats[~valid]).any(axis=1).all()
    assert np.isfinite(feats[valid]).all()
    # the held value is the last observation, not zero
    filled, _ = fill_missing(t, lm, spec)
    np.testing.assert_allclose(filled[4, 25, :2], lm[2, 25, :2])
    np.testing.assert_allclose(filled[5, 0, :2], lm[4, 0, :2])
    # a person gone for longer than the gap makes invalid frames, never a pose of zeros
    lm[2:] = np.nan
    feats, valid = sequence_features(t, lm, spec)
    assert valid.tolist() == [True] * 7 + [False] * 3
    assert np.isnan(feats[7:]).all()


def test_streaming_filler_matches_offline():
    spec = FeatureSpec(min_visibility=0.3)
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.uniform(0.03, 0.2, 40))
    lm = np.repeat(standing_pose()[None], 40, axis=0)
    lm[:, :, 3] = rng.uniform(0, 1, (40, 33))
    filled, valid = fill_missing(t, lm, spec)
    f = MissingFiller(spec)
    for i in range(40):
        o, v = f.step(t[i], lm[i])
        assert v == valid[i]
        np.testing.assert_array_equal(np.isnan(o), np.isnan(filled[i]))


def _motion(t):
    """A smooth squat-like motion of the whole skeleton, sampled at times t."""
    base = standing_pose()
    lm = np.repeat(base[None], len(t), axis=0)
    depth = 0.08 * (1 - np.cos(2 * np.pi * t / 2.0)) / 2
    for i in (0, 11, 12, 13, 14, 15, 16, 23, 24):
        lm[:, i, 1] += depth
    lm[:, 25, 0] -= depth / 2
    lm[:, 26, 0] += depth / 2
    return lm


def test_30fps_and_10fps_streams_give_the_same_windows():
    spec = FeatureSpec(sample_rate=10.0, window=15)
    out = []
    for fps in (30, 10):
        t = np.arange(0, 6.0, 1 / fps)
        feats, valid = sequence_features(t, _motion(t), spec)
        w, ends = sliding_windows(t, feats, valid, spec)
        out.append((w, ends))
    (w30, e30), (w10, e10) = out
    common = np.intersect1d(np.round(e30, 6), np.round(e10, 6))
    assert len(common) >= 40
    i30 = np.searchsorted(np.round(e30, 6), common)
    i10 = np.searchsorted(np.round(e10, 6), common)
    np.testing.assert_allclose(w30[i30], w10[i10], atol=1e-5)


def test_resample_respects_gaps_and_grid():
    spec = FeatureSpec(sample_rate=10.0)
    t = np.array([0.0, 0.1, 0.2, 1.5, 1.6])
    feats = np.arange(5, dtype=np.float32)[:, None]
    grid, X, ok = resample(t, feats, np.ones(5, bool), 10.0, spec.max_gap_s)
    np.testing.assert_allclose(grid, np.arange(0, 17) / 10.0)
    assert ok.tolist() == [True, True, True] + [False] * 12 + [True, True]
    assert X[1, 0] == pytest.approx(1.0)


def test_stream_windower_equals_offline_windows():
    spec = FeatureSpec(sample_rate=15.0, window=15)
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.uniform(0.02, 0.12, 120))
    lm = _motion(t)
    lm[50:53] = np.nan  # person lost briefly
    feats, valid = sequence_features(t, lm, spec)
    offline, ends = sliding_windows(t, feats, valid, spec)
    sw = StreamWindower(spec)
    online = [(te, w) for i in range(len(t)) for te, w in sw.push(t[i], feats[i], valid[i])]
    assert len(online) == len(offline) > 0
    np.testing.assert_allclose([te for te, _ in online], ends)
    np.testing.assert_allclose(np.stack([w for _, w in online]), offline, atol=1e-6)


def test_rep_window_is_tempo_invariant():
    spec = FeatureSpec(window=15, window_mode="rep")
    windows = []
    for period in (1.5, 3.0):
        t = np.linspace(0, period, int(period * 30) + 1)
        lm = _motion(t * 2.0 / period)  # one full cycle over the period
        feats, valid = sequence_features(t, lm, spec)
        windows.append(rep_window(t, feats, valid, 0.0, t[-1], spec))
    np.testing.assert_allclose(windows[0], windows[1], atol=2e-3)


def test_rep_window_refuses_mostly_missing_reps():
    spec = FeatureSpec(window_mode="rep")
    t = np.arange(0, 2, 1 / 30)
    lm = _motion(t)
    lm[5:50] = np.nan
    feats, valid = sequence_features(t, lm, spec)
    assert rep_window(t, feats, valid, 0.0, 1.9, spec) is None


@pytest.mark.parametrize("norm", ["body", "body-upright"])
def test_mirrored_features_are_the_features_of_the_mirrored_pose(norm):
    rng = np.random.default_rng(4)
    lm = np.stack([standing_pose(rng) for _ in range(5)])
    lm[:, 15, :2] += (0.05, -0.2)  # left wrist raised: the mirror must raise the right one
    mirrored = lm[:, list(MIRROR)].copy()
    mirrored[..., 0] = 1.0 - mirrored[..., 0]  # the image flipped left-right
    spec = FeatureSpec(normalisation=norm)
    f = frame_features(lm, spec, (640, 480))
    np.testing.assert_allclose(mirror_features(f, spec), frame_features(mirrored, spec, (640, 480)), atol=1e-5)
    np.testing.assert_allclose(mirror_features(mirror_features(f, spec), spec), f, atol=1e-6)
    names = spec.feature_names()
    m = mirror_features(f, spec)
    assert m[0, names.index("angle.right_elbow")] == pytest.approx(f[0, names.index("angle.left_elbow")])


def test_a_spec_that_cannot_be_mirrored_names_the_field():
    with pytest.raises(SpecError, match="normalisation"):
        mirror_features(np.zeros((1, 44)), FeatureSpec(normalisation="none"))
    with pytest.raises(SpecError, match=r"landmarks: 11 .* mirror 12"):
        mirror_features(np.zeros((1, 2)), FeatureSpec(landmarks=(11,), feature_set="landmarks"))
