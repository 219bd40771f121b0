"""``formcheck-extract``: discovery, labels from folders, bad inputs, resume, workers, CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import aihub_doc, write_json, write_video

from formcheck.device.exercises import EXERCISES
from formcheck.device.sequences import load_dataset, read_sequences
from formcheck.train import extract
from formcheck.train.extract import ExtractOptions, ItemResult, discover, main, process_item
from formcheck.train.videos import clip_labels, infer_exercise, labels_from_path

SQUAT = list(EXERCISES["squat"].condition_names)


# ---- labels from names and folders -------------------------------------------------------------

def test_exercise_from_file_name_prefix():
    assert infer_exercise("squat_front.mp4") == "squat"
    assert infer_exercise("side_lunge_front.mp4") == "side_lunge"
    assert infer_exercise("barbell_curl_side.mp4") == "barbell_curl"
    assert infer_exercise("squat.mp4") == "squat"
    assert infer_exercise("squats_at_home.mp4") == ""  # a prefix must end at a separator
    assert infer_exercise("holiday.mp4") == ""


def test_folder_labels_give_conditions():
    c = clip_labels("squat", "correct")
    assert (c.exercise, c.correct, c.conditions, c.condition_values) == ("squat", True, SQUAT, [True] * 5)
    c = clip_labels("squat", "incorrect")
    assert c.correct is False and c.condition_values == [None] * 5
    by_key = clip_labels("squat", "knees_in_line")
    by_name = clip_labels("바벨 스쿼트", "발과 무릎의 방향 일치")  # Korean folder names work too
    for c in (by_key, by_name):
        assert c.exercise == "squat" and c.correct is False
        assert c.condition_values == [None, None, False, None, None]
    other = clip_labels("squat", "slow tempo")
    assert other.correct is None and other.label == "slow tempo"
    assert clip_labels("burpee", "correct").conditions == []
    assert labels_from_path("squat/correct/a.mp4").label == "correct"
    assert labels_from_path("squat/correct/clip1").exercise == "squat"
    assert labels_from_path("squat_front.mp4").exercise == "squat"
    assert labels_from_path("videos/squat_front.mp4").exercise == "squat"
    assert labels_from_path("squat/x.mp4").exercise == "squat"
    c = labels_from_path("incorrect/side_lunge_2.mp4")
    assert (c.exercise, c.label, c.correct) == ("side_lunge", "incorrect", False)


def test_discovery_mirrors_inputs_and_finds_every_kind(tmp_path):
    root = tmp_path / "root"
    for rel in ["squat/correct/a.mp4", "squat/correct/a.avi", "squat/knees_in_line/b.mp4",
                "squat/correct/clip1/0001.png", "squat/correct/clip1/0002.png", "labels/D01.json",
                ".hidden/z.mp4", "notes.txt", "out/manifest.json", "out/old.mp4"]:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    items = discover([root], "auto", outdir=root / "out")  # the output folder is never an input
    got = {(i.kind, i.rel, i.out) for i in items}
    assert got == {
        ("aihub", "labels/D01.json", "labels/D01.npz"),
        ("video", "squat/correct/a.avi", "squat/correct/a.avi.npz"),  # clash with a.mp4: keep ext
        ("video", "squat/correct/a.mp4", "squat/correct/a.mp4.npz"),
        ("video", "squat/knees_in_line/b.mp4", "squat/knees_in_line/b.npz"),
        ("images", "squat/correct/clip1", "squat/correct/clip1.npz"),
    }
    assert {i.kind for i in discover([root], "videos")} == {"video"}
    assert [i.kind for i in discover([root], "images")] == ["images"]
    # several INPUT folders: each mirrors into its own sub-folder
    other = tmp_path / "other"
    write_json(other / "D02.json", {})
    outs = {i.out for i in discover([root / "labels", other])}
    assert outs == {"labels/D01.npz", "other/D02.npz"}
    with pytest.raises(extract.UsageError, match="does not exist"):
        discover([tmp_path / "nope"])
    with pytest.raises(extract.UsageError, match="not an AI-Hub"):
        discover([root / "notes.txt"])


# ---- extraction through the CLI ----------------------------------------------------------------

def test_video_and_image_folders_through_blazepose(tmp_path):
    import cv2

    root = tmp_path / "clips"
    write_video(root / "squat" / "correct" / "rep1.mp4", n=20)
    clip = root / "squat" / "heels_down" / "take2"
    clip.mkdir(parents=True)
    video = cv2.VideoCapture(str(root / "squat" / "correct" / "rep1.mp4"))
    for i in range(12):  # frame_2 must come before frame_10 (natural order)
        ok, frame = video.read()
        assert ok
        cv2.imwrite(str(clip / f"frame_{i}.png"), frame)
    video.release()
    out = tmp_path / "ds"
    assert main([str(root), "-o", str(out), "--workers", "1", "--image-fps", "15", "-q"]) == 0

    [v] = read_sequences(out / "squat" / "correct" / "rep1.npz")
    assert (v.origin, v.exercise, v.label, v.correct) == ("video", "squat", "correct", True)
    assert v.conditions == SQUAT and v.condition_values == [True] * 5
    assert v.image_size == (320, 240) and v.fps == 30.0 and v.group == "squat/correct/rep1.mp4"
    np.testing.assert_allclose(v.t, np.arange(20) / 30.0)
    found = np.isfinite(v.landmarks[:, 0, 0]).mean()
    assert found >= 0.9
    assert v.extra["pose_backend"] == "litert"  # the default: no mediapipe needed

    [im] = read_sequences(out / "squat" / "heels_down" / "take2.npz")
    assert (im.origin, im.label, im.correct) == ("images", "heels_down", False)
    assert im.condition_values == [None, None, None, False, None]
    assert im.extra["frame_files"][:3] == ["frame_0.png", "frame_1.png", "frame_2.png"]
    np.testing.assert_allclose(im.t, np.arange(12) / 15.0)
    assert np.isfinite(im.landmarks[:, 0, 0]).mean() >= 0.9
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["per_origin"] == {"images": 1, "video": 1}


def test_bad_inputs_are_skipped_and_reported_the_rest_extracted(tmp_path, capsys):
    root = tmp_path / "in"
    write_json(root / "good1.json", aihub_doc())
    write_json(root / "good2.json", aihub_doc(values=(True, False, True, True, True)))
    write_json(root / "broken.json", json.dumps(aihub_doc())[:300])  # cut mid-file
    bad_schema = aihub_doc()
    del bad_schema["frames"][1]["view2"]["pts"]["Right Knee"]
    write_json(root / "schema.json", bad_schema)
    write_video(root / "videos" / "squat_ok.mp4", n=10, person=False)
    full = write_video(tmp_path / "whole.mp4", n=30, person=False).read_bytes()
    (root / "videos" / "squat_cut.mp4").write_bytes(full[: len(full) // 2])
    (root / "videos" / "empty.mp4").write_bytes(b"")
    out = tmp_path / "ds"

    assert main([str(root), "-o", str(out), "--workers", "1"]) == 1
    text = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    failures = {Path(f["input"]).name: f["reason"] for f in manifest["failures"]}
    assert set(failures) == {"broken.json", "schema.json", "squat_cut.mp4", "empty.mp4"}
    assert "invalid JSON" in failures["broken.json"]
    assert "frames[1].view2.pts.Right Knee" in failures["schema.json"]
    assert "cannot open" in failures["squat_cut.mp4"]
    for name in failures:
        assert name in text  # the printed summary names every failed input
    assert (manifest["done"], manifest["failed"], manifest["sequences"]) == (3, 4, 11)
    assert {Path(p).name for p in map(str, out.rglob("*.npz"))} == {"good1.npz", "good2.npz", "squat_ok.npz"}
    assert len(load_dataset(out)) == 11
    [ok] = read_sequences(out / "videos" / "squat_ok.npz")
    assert ok.exercise == "squat" and len(ok.t) == 10 and not np.isfinite(ok.landmarks).any()

    # re-run: the good ones are skipped, the bad ones retried and reported again
    assert main([str(root), "-o", str(out), "--workers", "1", "-q"]) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["skipped_existing"], manifest["failed"], manifest["done"]) == (3, 4, 0)


@pytest.mark.shared_data
def test_truncated_real_video_is_reported(videos_dir, tmp_path):
    data = (videos_dir / "squat_front.mp4").read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # index first: a cut file still opens
    root = tmp_path / "in"
    root.mkdir()
    (root / "squat_cut.mp4").write_bytes(data[: int(len(data) * 0.15)])
    write_json(root / "ok.json", aihub_doc())
    assert main([str(root), "-o", str(tmp_path / "ds"), "--workers", "1", "-q"]) == 1
    [f] = json.loads((tmp_path / "ds" / "manifest.json").read_text())["failures"]
    assert "truncated" in f["reason"] and "of the 255 frames" in f["reason"]
    assert (tmp_path / "ds" / "ok.npz").exists()


@pytest.mark.shared_data
def test_real_videos_person_found_in_95_percent(videos_dir, tmp_path):
    import cv2

    out = tmp_path / "ds"
    # consecutive frames in video mode; the first 75 of each clip keep the test quick
    assert main([str(videos_dir), "-o", str(out), "--max-frames", "75", "--workers", "2", "-q"]) == 0
    seqs = {Path(s.source).name: s for s in load_dataset(out)}
    assert set(seqs) == {p.name for p in videos_dir.glob("*.mp4")}
    # The folder's own LABELS.json is not an AI-Hub label file: ignored and said so, not a failure.
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["failed"] == 0
    assert [(Path(f["input"]).name, f["status"]) for f in manifest["files"] if f["status"] != "done"] == (
        [("LABELS.json", "ignored")] if (videos_dir / "LABELS.json").exists() else [])
    expected = {"squat_front.mp4": ("squat", (620, 720)), "barbell_curl_side.mp4": ("barbell_curl", (522, 294)),
                "side_lunge_front.mp4": ("side_lunge", (1280, 720))}
    for name, s in seqs.items():
        present = np.isfinite(s.landmarks[:, :, 0]).all(axis=1)
        assert present.mean() >= 0.95, name
        if name in expected:
            assert (s.exercise, s.image_size) == expected[name]
        # the clips' own frame rates (24, 30, 59.94 fps), read from the container
        assert s.fps == pytest.approx(cv2.VideoCapture(str(videos_dir / name)).get(cv2.CAP_PROP_FPS)), name
        assert s.origin == "video" and "fps_assumed" not in s.extra, name
        # upright exercisers: the nose is above the hips (image y grows downwards)
        lm = s.landmarks[present]
        assert (lm[:, 0, 1] < (lm[:, 23, 1] + lm[:, 24, 1]) / 2).mean() >= 0.95, name


def test_pool_gives_the_same_dataset_as_one_process(tmp_path):
    root = tmp_path / "in"
    for i in range(6):
        write_json(root / f"D{i}.json", aihub_doc(values=(True,) * 4 + (bool(i % 2),)))
    assert main([str(root), "-o", str(tmp_path / "one"), "--workers", "1", "-q"]) == 0
    assert main([str(root), "-o", str(tmp_path / "two"), "--workers", "2", "-q"]) == 0
    for f in sorted((tmp_path / "one").glob("*.npz")):
        a, b = read_sequences(f), read_sequences(tmp_path / "two" / f.name)
        assert [s.meta() for s in a] == [s.meta() for s in b]
        for sa, sb in zip(a, b, strict=True):
            np.testing.assert_array_equal(sa.landmarks, sb.landmarks)


def crash_on_marker(item, options, outdir):
    """Worker function for the crash test: dies like a native crash on one input."""
    if Path(item.path).name == "crash.json":
        os._exit(7)
    return process_item(item, options, outdir)


def test_a_crashing_worker_fails_only_its_input(tmp_path):
    root = tmp_path / "in"
    for name in ("a", "b", "crash", "c", "d"):
        write_json(root / f"{name}.json", aihub_doc())
    items = discover([root])
    results: list[ItemResult] = []
    extract._run_pool(items, ExtractOptions(), str(tmp_path / "ds"), 2, results.append, work=crash_on_marker)
    status = {Path(r.item.path).name: r.status for r in results}
    assert status == {"a.json": "done", "b.json": "done", "crash.json": "failed", "c.json": "done",
                      "d.json": "done"}
    [crashed] = [r for r in results if r.status == "failed"]
    assert "crashed" in crashed.reason


def test_a_stop_right_after_a_worker_wrote_its_output_keeps_that_output_done(tmp_path, monkeypatch):
    """A stop can land between a worker writing its output (atomically) and the run recording
    its result: the run then reads it back, so the summary (and manifest) says what is on disk,
    and a re-run skips exactly what was written."""
    root, out = tmp_path / "in", tmp_path / "ds"
    for name in ("a", "b", "c", "d"):
        write_json(root / f"{name}.json", aihub_doc())
    items = discover([root])
    real = extract.process_item

    def stop_after_writing_b(item, options, outdir):
        r = real(item, options, outdir)
        if Path(item.path).name == "b.json":
            raise KeyboardInterrupt  # the stop arrives before the result is recorded
        return r

    monkeypatch.setattr(extract, "process_item", stop_after_writing_b)
    summary = extract.RunSummary(outdir=str(out))
    with pytest.raises(KeyboardInterrupt):
        extract.run(items, out, ExtractOptions(), workers=1, summary=summary)
    assert summary.interrupted
    assert {Path(r.item.path).name: r.status for r in summary.results} == {"a.json": "done", "b.json": "done"}
    assert {p.name for p in out.glob("*.npz")} == {Path(r.item.out).name for r in summary.results}
    monkeypatch.setattr(extract, "process_item", real)
    again = extract.run(items, out, ExtractOptions(), workers=1)
    assert sorted(r.status for r in again.results) == ["done", "done", "skipped", "skipped"]


# ---- usage ---------------------------------------------------------------------------------------

def test_help_and_usage_errors(tmp_path, capsys):
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    for needle in ("examples:", "exit codes:", "--images-root", "--workers", "--kind", "resume"):
        assert needle in help_text
    assert main([str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "-o", str(tmp_path / "o")]) == 2
    assert "nothing to extract" in capsys.readouterr().err
    assert main([str(tmp_path / "empty"), "-o", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert main(["-o", str(tmp_path / "o")]) == 2


def test_unavailable_pose_model_stops_the_run_with_a_clear_error(tmp_path, capsys):
    from formcheck.device.pose.mediapipe_backend import mediapipe_model_dir

    if (mediapipe_model_dir() / "pose_landmark" / "pose_landmark_heavy.tflite").exists():
        pytest.skip("the heavy model is installed here")
    root = tmp_path / "in"
    write_video(root / "a.mp4", n=3, person=False)
    write_video(root / "b.mp4", n=3, person=False)
    for workers in ("1", "2"):  # (the litert backend's own refusal: tests/test_pose_litert.py)
        assert main([str(root), "-o", str(tmp_path / "o"), "--backend", "mediapipe", "--model", "heavy",
                     "--workers", workers, "-q"]) == 2
        err = capsys.readouterr().err
        assert "heavy" in err and "never downloads" in err
    assert not list((tmp_path / "o").rglob("*.npz"))


def test_backend_missing_from_the_install_is_a_usage_error(monkeypatch):
    from formcheck.device.pose import landmarks as pose

    monkeypatch.setitem(pose.BACKENDS, "ghost", "formcheck.device.pose_ghost:GhostPose")
    with pytest.raises(extract.UsageError, match="'ghost' is not available"):
        extract._check_backend(ExtractOptions(backend="ghost"))
    extract._check_backend(ExtractOptions(backend="mediapipe"))  # present: no error


def test_limit_and_labels_only_needs_no_backend(tmp_path, capsys):
    root = tmp_path / "in"
    for i in range(4):
        write_json(root / f"D{i}.json", aihub_doc())
    # labels-only AI-Hub extraction never touches the pose backend, even an unavailable one
    assert main([str(root), "-o", str(tmp_path / "o"), "--limit", "2", "--backend", "litert", "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").glob("*.npz")) == ["D0.npz", "D1.npz"]
    shutil.rmtree(tmp_path / "o")
