"""Framing checks on real landmarks (the packaged demo clip: BlazePose on real people)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formcheck.device.judging.framing import FramingLimits, check_framing, mean_luma
from formcheck.device.pose.landmarks import Pose
from formcheck.device.sequences import read_sequences

DEMO = Path(__file__).resolve().parents[1] / "device" / "demo" / "demo.npz"


@pytest.fixture(scope="module")
def standing() -> np.ndarray:
    """The first frame of the demo's front squat: a whole person, standing."""
    seq = read_sequences(DEMO)[1]
    return seq.landmarks[int(np.flatnonzero(seq.present)[0])].copy()


def moved(lm: np.ndarray, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0) -> Pose:
    out = lm.copy()
    centre = np.nanmean(out[:, :2], axis=0)
    out[:, :2] = (out[:, :2] - centre) * scale + centre + (dx, dy)
    return Pose(t=0.0, landmarks=out, image_size=(1280, 720))


def test_whole_body_in_frame(standing):
    r = check_framing(Pose(0.0, standing))
    assert r.person and r.whole_body
    assert r.cut_off == () and not r.too_far and r.hints == ()
    assert 0.7 < r.height < 1.0


@pytest.mark.parametrize("dy, parts, edge", [
    (0.35, {"knees", "feet"}, "bottom"),  # camera tilted up: legs leave at the bottom
    (-0.12, {"head"}, "top"),  # camera tilted down: the head leaves at the top
])
def test_cut_off_parts_and_the_edge(standing, dy, parts, edge):
    r = check_framing(moved(standing, dy=dy))
    assert not r.whole_body
    assert parts <= set(r.cut_off)
    assert "hips" not in r.cut_off and "shoulders" not in r.cut_off
    assert all(r.edges[p] == edge for p in parts)
    assert any(f"at the {edge}" in h for h in r.hints)


def test_cut_off_at_the_side(standing):
    r = check_framing(moved(standing, dx=0.5))
    assert r.edges and set(r.edges.values()) == {"right"}
    assert "right" in " ".join(r.hints)


def test_missing_joints_count_as_cut_off(standing):
    lm = standing.copy()
    lm[27:33, :3] = np.nan  # the backend lost the feet entirely
    r = check_framing(Pose(0.0, lm))
    assert r.cut_off == ("feet",) and "feet" not in r.edges


def test_low_visibility_inside_the_frame_is_hidden_not_cut_off(standing):
    lm = standing.copy()
    lm[13:23, 3] = 0.1
    r = check_framing(Pose(0.0, lm))
    assert r.whole_body and r.hidden == ("arms",)


def test_too_far(standing):
    near = check_framing(moved(standing, scale=0.5))
    far = check_framing(moved(standing, scale=0.3))
    assert not near.too_far and far.too_far
    assert far.height == pytest.approx(0.3 * check_framing(Pose(0.0, standing)).height, rel=0.05)
    assert any("too far" in h for h in far.hints)


def test_too_far_uses_the_torso_when_the_legs_are_cut_off(standing):
    # Only the upper body, small in the picture: the torso says the person is far.
    p = moved(standing, scale=0.3, dy=0.55)
    r = check_framing(p)
    assert "feet" in r.cut_off and r.too_far
    # A close person whose legs are cut off is not called too far.
    r = check_framing(moved(standing, dy=0.35))
    assert not r.too_far


def test_darkness_from_the_frame(standing):
    dark = np.full((48, 64, 3), 20, np.uint8)
    lit = np.full((48, 64, 3), 120, np.uint8)
    assert check_framing(Pose(0.0, standing), dark).too_dark
    r = check_framing(Pose(0.0, standing), lit)
    assert not r.too_dark and r.luma == pytest.approx(120, abs=0.5)
    assert check_framing(None, dark).too_dark  # dark and nobody: both said
    assert mean_luma(np.dstack([np.full((8, 8), 255, np.uint8), np.zeros((8, 8), np.uint8),
                                np.zeros((8, 8), np.uint8)])) == pytest.approx(0.299 * 255, abs=0.5)


def test_no_person():
    r = check_framing(Pose.none(0.0, (640, 480)))
    assert not r.person and not r.whole_body and r.height is None
    assert "nobody" in r.hints[0]


def test_limits_are_honoured(standing):
    r = check_framing(Pose(0.0, standing), limits=FramingLimits(min_height=0.99))
    assert r.too_far
    with pytest.raises(ValueError, match="RGB"):
        mean_luma(np.zeros((4, 4), np.uint8))


def test_report_is_json_ready(standing):
    import json

    json.dumps(check_framing(moved(standing, dy=0.35), np.zeros((8, 8, 3), np.uint8)).to_dict())
