"""AI-Hub fitness label files → landmark sequences (labels mode and images mode)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from formcheck.device.exercises import EXERCISES
from formcheck.device.sequences import load_dataset, read_sequences
from formcheck.train import aihub
from formcheck.train.extract import main

# Written out by hand (not imported from the module) so a wrong mapping fails here.
EXPECTED_MAP = {
    "Nose": 0, "Left Eye": 2, "Right Eye": 5, "Left Ear": 7, "Right Ear": 8,
    "Left Shoulder": 11, "Right Shoulder": 12, "Left Elbow": 13, "Right Elbow": 14,
    "Left Wrist": 15, "Right Wrist": 16, "Left Palm": 19, "Right Palm": 20,
    "Left Hip": 23, "Right Hip": 24, "Left Knee": 25, "Right Knee": 26,
    "Left Ankle": 27, "Right Ankle": 28, "Left Foot": 31, "Right Foot": 32,
}
ALL_NAMES = [*EXPECTED_MAP, "Neck", "Back", "Waist"]
VIEW_KEYS = ["view1", "view2", "view3", "view4", "view5"]
LETTERS = ["A", "B", "C", "D", "E"]
CURL = [c.name for c in EXERCISES["barbell_curl"].aihub_conditions]


def make_doc(exercise="바벨 컬 ", key="409", values=None, names=None, n_frames=4, seed=0, active=None):
    """An AI-Hub-format label document: random integer pixels, keypoints in shuffled order."""
    rng = np.random.default_rng(seed)
    names = CURL if names is None else names
    values = [True] * len(names) if values is None else values
    frames = []
    for fi in range(n_frames):
        frame = {}
        for vkey, letter in zip(VIEW_KEYS, LETTERS, strict=True):
            pts = [(n, {"x": int(rng.integers(0, 1920)), "y": int(rng.integers(0, 1080))}) for n in ALL_NAMES]
            rng.shuffle(pts)  # the real files list keypoints in varying order
            clip = f"{key}-1-3-07-Z57_{letter}"
            frame[vkey] = {"pts": dict(pts),
                           "active": "Yes" if active is None or active[fi] else "No",
                           "img_key": f"Day01_200921_F/3/{letter}/{clip}/{clip}-{2 * fi + 1:07d}.jpg"}
        frames.append(frame)
    return {"frames": frames, "type": key, "type_info": {
        "key": key, "type": "바벨/덤벨", "pose": "선 자세", "exercise": exercise,
        "conditions": [{"condition": n, "value": v} for n, v in zip(names, values, strict=True)],
        "description": "generated"}}


def write(tmp_path: Path, name: str, doc) -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return p


def test_keypoints_map_onto_blazepose_by_name(tmp_path):
    doc = make_doc(n_frames=3)
    seqs = aihub.load_sequences(write(tmp_path, "D01-1-409.json", doc))
    for vkey, seq in zip(VIEW_KEYS, seqs, strict=True):
        for fi, frame in enumerate(doc["frames"]):
            pts = frame[vkey]["pts"]
            for name, idx in EXPECTED_MAP.items():
                np.testing.assert_allclose(seq.landmarks[fi, idx],
                                           [pts[name]["x"] / 1920, pts[name]["y"] / 1080, 0.0, 1.0],
                                           rtol=1e-6)
            # heels: behind the ankle, along the foot line, a quarter of ankle-to-toe
            for heel, ankle, foot in ((29, "Left Ankle", "Left Foot"), (30, "Right Ankle", "Right Foot")):
                a = np.array([pts[ankle]["x"] / 1920, pts[ankle]["y"] / 1080])
                f = np.array([pts[foot]["x"] / 1920, pts[foot]["y"] / 1080])
                np.testing.assert_allclose(seq.landmarks[fi, heel, :2], a + 0.25 * (a - f), rtol=1e-5)
                assert seq.landmarks[fi, heel, 3] == 1.0
        # BlazePose points AI-Hub has no counterpart for stay NaN (never a zero that looks real)
        unmapped = sorted(set(range(33)) - set(EXPECTED_MAP.values()) - {29, 30})
        assert unmapped == [1, 3, 4, 6, 9, 10, 17, 18, 21, 22]
        assert np.isnan(seq.landmarks[:, unmapped]).all()
        assert seq.extra["derived"] == ["left_heel", "right_heel"]
        assert seq.image_size == (1920, 1080)
        assert seq.origin == "aihub-labels"


def test_keypoint_order_in_the_file_does_not_matter(tmp_path):
    doc = make_doc(seed=3)
    flipped = copy.deepcopy(doc)
    for frame in flipped["frames"]:
        for v in frame.values():
            v["pts"] = dict(reversed(list(v["pts"].items())))
    a = aihub.load_sequences(write(tmp_path, "a.json", doc))
    b = aihub.load_sequences(write(tmp_path, "b.json", flipped))
    for sa, sb in zip(a, b, strict=True):
        np.testing.assert_array_equal(sa.landmarks, sb.landmarks)


def test_five_views_are_five_sequences_of_one_group(tmp_path):
    doc = make_doc(n_frames=4)
    seqs = aihub.load_sequences(write(tmp_path, "D01-3-409.json", doc))
    assert [s.view for s in seqs] == LETTERS
    assert [s.extra["view_key"] for s in seqs] == VIEW_KEYS
    assert [s.extra["camera"] for s in seqs] == ["left 135°", "left 45°", "front", "right 45°", "right 135°"]
    assert {s.group for s in seqs} == {"D01-3-409"}
    assert len({s.id for s in seqs}) == 5
    # each view carries its own camera's coordinates
    for vkey, s in zip(VIEW_KEYS, seqs, strict=True):
        assert s.landmarks[2, 0, 0] == pytest.approx(doc["frames"][2][vkey]["pts"]["Nose"]["x"] / 1920)
    # odd frame numbers 1, 3, 5, 7 of a 30 fps recording
    np.testing.assert_allclose(seqs[0].t, [0.0, 2 / 30, 4 / 30, 6 / 30])
    assert seqs[0].fps == 15.0


def test_conditions_trailing_space_and_rom(tmp_path):
    values = [True, False, True, True, False]
    seqs = aihub.load_sequences(write(tmp_path, "c.json", make_doc(exercise="바벨 컬 ", values=values)))
    s = seqs[0]
    assert s.exercise == "barbell_curl"  # "바벨 컬 " trimmed and mapped
    assert s.conditions == [*CURL, "rom"]
    assert s.condition_values == [*values, None]  # rom: unknown for AI-Hub, never true
    assert s.correct is False
    assert s.extra["aihub_key"] == "409"
    ok = aihub.load_sequences(write(tmp_path, "ok.json", make_doc(exercise="바벨 컬 ")))[0]
    assert ok.correct is True and ok.label == "correct"
    assert ok.condition_values == [True] * 5 + [None]


def test_unknown_exercise_keeps_its_korean_name(tmp_path):
    seqs = aihub.load_sequences(write(tmp_path, "d.json", make_doc(exercise=" 덤벨 컬 ", key="441",
                                                                    values=[True, True, False, True, True])))
    assert {s.exercise for s in seqs} == {"덤벨 컬"}
    assert seqs[0].conditions == CURL  # no formcheck "rom" for an exercise formcheck doesn't know
    assert seqs[0].correct is False


def test_active_flag_is_kept_and_inactive_frames_keep_coordinates(tmp_path):
    active = [False, True, True, False]
    seqs = aihub.load_sequences(write(tmp_path, "e.json", make_doc(active=active)))
    for s in seqs:
        assert s.extra["active"] == active
        assert np.isfinite(s.landmarks[:, [0, 11, 23, 27], :2]).all()


MALFORMED = [
    ("no type_info", lambda d: d.pop("type_info"), "type_info"),
    ("exercise missing", lambda d: d["type_info"].pop("exercise"), "type_info.exercise"),
    ("value as text", lambda d: d["type_info"]["conditions"][1].__setitem__("value", "true"),
     "type_info.conditions[1].value"),
    ("keypoint missing", lambda d: d["frames"][2]["view3"]["pts"].pop("Left Knee"),
     "frames[2].view3.pts.Left Knee"),
    ("coordinate as text", lambda d: d["frames"][1]["view2"]["pts"]["Nose"].__setitem__("x", "12"),
     "frames[1].view2.pts.Nose.x"),
    ("view missing", lambda d: d["frames"][0].pop("view5"), "frames[0].view5"),
    ("active odd", lambda d: d["frames"][3]["view1"].__setitem__("active", "maybe"), "frames[3].view1.active"),
    ("img_key without number", lambda d: d["frames"][0]["view4"].__setitem__("img_key", "a/b.jpg"),
     "frames[0].view4.img_key"),
    ("frames empty", lambda d: d.__setitem__("frames", []), "frames"),
]


@pytest.mark.parametrize(("what", "mutate", "field"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_names_the_file_and_the_field(tmp_path, what, mutate, field):
    doc = make_doc()
    mutate(doc)
    p = write(tmp_path, "bad.json", doc)
    with pytest.raises(aihub.AihubFormatError) as e:
        aihub.load_sequences(p)
    assert e.value.field == field
    assert str(p) in str(e.value) and repr(field) in str(e.value)


def test_invalid_json_is_a_format_error(tmp_path):
    p = write(tmp_path, "broken.json", json.dumps(make_doc())[:500])
    with pytest.raises(aihub.AihubFormatError, match="invalid JSON") as e:
        aihub.load_clip(p)
    assert str(p) in str(e.value)


# ---- the real sample, through the CLI ----------------------------------------------------------

@pytest.mark.shared_data
def test_aihub_sample_gives_600_sequences_with_the_files_conditions(aihub_sample_dir, tmp_path, capsys):
    out = tmp_path / "ds"
    assert main([str(aihub_sample_dir), "-o", str(out), "-q"]) == 0
    files = sorted(aihub_sample_dir.glob("*.json"))
    assert len(files) == 120
    seqs = load_dataset(out)
    assert len(seqs) == 600
    by_group = {}
    for s in seqs:
        by_group.setdefault(s.group, []).append(s)
    for f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        ti = doc["type_info"]
        group = by_group[f.stem]
        assert sorted(s.view for s in group) == LETTERS
        values = [c["value"] for c in ti["conditions"]]
        known = ti["exercise"].strip() != "덤벨 컬"
        for s in group:
            assert s.condition_values == ([*values, None] if known else values)
            assert s.conditions[: len(values)] == [c["condition"].strip() for c in ti["conditions"]]
            assert s.correct == all(values)
            vkey = s.extra["view_key"]
            nose = doc["frames"][5][vkey]["pts"]["Nose"]
            assert s.landmarks[5, 0, :2] == pytest.approx([nose["x"] / 1920, nose["y"] / 1080])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sequences"] == 600 and manifest["done"] == 120 and manifest["failed"] == 0
    assert manifest["per_exercise"] == {"barbell_curl": 160, "knee_up": 40, "overhead_press": 80,
                                        "side_raise": 160, "덤벨 컬": 160}
    capsys.readouterr()
    # resume: everything is already there
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    assert main([str(aihub_sample_dir), "-o", str(out), "-q"]) == 0
    assert "skipped (already extracted) 120" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.npz")} == mtimes
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["skipped_existing"] == 120 and manifest["sequences"] == 600


# ---- images mode: BlazePose on the images img_key names --------------------------------------

def test_images_mode_runs_blazepose_on_the_named_images(tmp_path):
    import cv2
    from skimage.data import astronaut

    face = astronaut()  # 512x512, a real photo of a person
    doc = make_doc(n_frames=3, values=[True, True, False, True, True])
    images = tmp_path / "images"
    offsets = {}
    for fi, frame in enumerate(doc["frames"]):
        for vi, vkey in enumerate(VIEW_KEYS):
            ox, oy = 300 + 120 * vi + 20 * fi, 250 + 10 * fi
            canvas = np.full((1080, 1920, 3), 90, np.uint8)
            canvas[oy:oy + 512, ox:ox + 512] = face
            p = images / frame[vkey]["img_key"]
            p.parent.mkdir(parents=True, exist_ok=True)
            if (vi, fi) != (4, 2):  # one image missing: that frame becomes "no person"
                cv2.imwrite(str(p), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
            offsets[(vkey, fi)] = (ox, oy)
    labels = tmp_path / "labels"
    labels.mkdir()
    write(labels, "D01-3-410.json", doc)
    out = tmp_path / "ds"
    assert main([str(labels), "--images-root", str(images), "-o", str(out), "--workers", "1", "-q"]) == 0
    seqs = read_sequences(out / "D01-3-410.npz")
    assert [s.view for s in seqs] == LETTERS
    for vkey, s in zip(VIEW_KEYS, seqs, strict=True):
        assert s.origin == "aihub-images" and s.image_size == (1920, 1080)
        assert s.condition_values == [True, True, False, True, True, None] and s.correct is False
        np.testing.assert_allclose(s.t, [0, 2 / 30, 4 / 30])
        for fi in range(3):
            if (vkey, fi) == ("view5", 2):
                assert np.isnan(s.landmarks[fi]).all()
                continue
            # the astronaut's nose is at about (0.435, 0.25) of her 512x512 photo
            ox, oy = offsets[(vkey, fi)]
            nose = s.landmarks[fi, 0]
            assert nose[0] == pytest.approx((ox + 0.435 * 512) / 1920, abs=0.015)
            assert nose[1] == pytest.approx((oy + 0.25 * 512) / 1080, abs=0.02)
            assert nose[3] > 0.9
    assert seqs[4].extra["missing_images"] == 1
