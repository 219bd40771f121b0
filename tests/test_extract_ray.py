"""``formcheck-extract``'s Ray engine on a local 2-CPU Ray instance: the local engine's dataset,
bad inputs reported, crashing workers retried then reported, resume."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import aihub_doc, write_json, write_video

ray = pytest.importorskip("ray")

from formcheck.device.sequences import load_dataset, read_sequences  # noqa: E402
from formcheck.train.extract import BackendError, ExtractOptions, discover, process_item, run  # noqa: E402
from formcheck.train.extract_ray import RaySummary, SharedPathError, _Extractor, run_ray  # noqa: E402

OPTIONS = ExtractOptions(threads=1)


@pytest.fixture(scope="module", autouse=True)
def ray_local():
    """One local Ray instance for the module (starting one takes ~10 s here)."""
    from ray import cloudpickle

    # The crash hook below is defined here; workers cannot import a test module by name.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=128 * 2**20)
    yield
    ray.shutdown()


# ---- inputs made here (write_video, aihub_doc, write_json: tests/helpers.py) ------------------------

def assert_same_dataset(a: Path, b: Path) -> int:
    """Same shards, same sequences and labels, landmarks equal within float tolerance."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.npz"))
    assert files_a and files_a == sorted(p.relative_to(b) for p in b.rglob("*.npz"))
    for rel in files_a:
        sa, sb = read_sequences(a / rel), read_sequences(b / rel)
        assert [s.meta() for s in sa] == [s.meta() for s in sb], rel
        for x, y in zip(sa, sb, strict=True):
            np.testing.assert_array_equal(x.t, y.t)
            np.testing.assert_allclose(x.landmarks, y.landmarks, atol=1e-5, equal_nan=True)
    return len(files_a)


def statuses(summary) -> dict[str, tuple[str, str]]:
    return {Path(r.item.path).name: (r.status, r.reason) for r in summary.results}


# ---- the same dataset as the local engine ---------------------------------------------------------

def shared(request, name: str) -> Path | None:
    """A ../shared/data fixture's folder, or None where it is absent (the rest still runs)."""
    try:
        return request.getfixturevalue(name)
    except pytest.skip.Exception:
        return None


def test_same_dataset_as_local_engine_and_bad_inputs_reported(tmp_path, monkeypatch, capsys, request):
    root = tmp_path / "in"
    for i in range(3):
        write_json(root / "aihub" / f"D{i}.json", aihub_doc(values=(True,) * 4 + (i != 1,), seed=i))
    write_video(root / "barbell_curl" / "correct" / "astro.mp4", n=16)
    # Real inputs where ../shared/data is present: AI-Hub label files and a real video.
    real_aihub, real_videos = shared(request, "aihub_sample_dir"), shared(request, "videos_dir")
    for p in sorted(real_aihub.glob("*.json"))[:3] if real_aihub else []:
        shutil.copy(p, root / "aihub" / p.name)
    if real_videos:
        shutil.copy(real_videos / "barbell_curl_side.mp4", root / "barbell_curl_side.mp4")  # 67 frames
    n_real = (3 if real_aihub else 0) + (1 if real_videos else 0)
    n_seqs = 16 + (15 if real_aihub else 0) + (1 if real_videos else 0)
    write_json(root / "aihub" / "broken.json", json.dumps(aihub_doc(seed=9))[:300])  # cut mid-file
    bad = aihub_doc(seed=8)
    del bad["frames"][2]["view4"]["pts"]["Left Knee"]
    write_json(root / "aihub" / "schema.json", bad)
    (root / "squat_empty.mp4").write_bytes(b"")
    # Relative input paths, and a working directory the Ray workers did not start in.
    monkeypatch.chdir(tmp_path)
    items = discover(["in"], outdir="ray")

    local = run(items, "local", OPTIONS, workers=1)
    ray_sum = run_ray(items, OPTIONS, "ray", progress=True)
    assert f"{7 + n_real}/{7 + n_real}" in capsys.readouterr().err  # the progress bar counts inputs

    assert assert_same_dataset(tmp_path / "local", tmp_path / "ray") == 4 + n_real
    assert statuses(ray_sum) == statuses(local)
    failed = {k: reason for k, (status, reason) in statuses(ray_sum).items() if status == "failed"}
    assert set(failed) == {"broken.json", "schema.json", "squat_empty.mp4"}
    assert "invalid JSON" in failed["broken.json"]
    assert "frames[2].view4.pts.Left Knee" in failed["schema.json"]
    [video] = read_sequences(tmp_path / "ray" / "barbell_curl" / "correct" / "astro.npz")
    assert (video.exercise, video.label, video.correct, video.source) == (
        "barbell_curl", "correct", True, "in/barbell_curl/correct/astro.mp4")
    assert np.isfinite(video.landmarks[:, 0, 0]).mean() >= 0.9  # BlazePose ran on the worker
    if real_videos:
        [curl] = read_sequences(tmp_path / "ray" / "barbell_curl_side.npz")
        assert curl.exercise == "barbell_curl" and len(curl.t) >= 60
        assert np.isfinite(curl.landmarks[:, :, 0]).all(axis=1).mean() >= 0.95

    # Training reads the shards as one dataset, no merge step; the manifest has the counts.
    assert len(load_dataset(tmp_path / "ray")) == len(load_dataset(tmp_path / "local")) == n_seqs
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert (manifest["engine"], manifest["done"], manifest["failed"], manifest["sequences"]) == (
        "ray", 4 + n_real, 3, n_seqs)
    assert {Path(f["input"]).name for f in manifest["failures"]} == set(failed)
    assert sum(manifest["ray"]["inputs_per_node"].values()) == 4 + n_real
    assert not [p for p in (tmp_path / "ray").iterdir() if p.name.startswith(".")]  # token removed
    text = ray_sum.text()
    assert all(name in text for name in failed) and "2 workers on 1 node" in text


# ---- crashes, resume ------------------------------------------------------------------------------

def crash_on_marker(item, options, outdir):
    """Worker function for the crash tests: logs each try, then dies like a native crash."""
    name = Path(item.path).stem
    if name.startswith("crash"):
        with open(Path(item.path).parent / "tries.log", "a") as f:
            f.write(name + "\n")
        if name == "crash_segv":
            import faulthandler

            faulthandler._sigsegv()  # a real SIGSEGV, as from a decoder
        os._exit(1)
    return process_item(item, options, outdir)


def test_crashing_worker_is_retried_then_reported_and_rerun_resumes(tmp_path):
    root = tmp_path / "in"
    for name in ("a", "b", "crash_exit", "c", "crash_segv", "d"):
        write_json(root / f"{name}.json", aihub_doc(seed=len(name)))
    items = discover([root])
    out = tmp_path / "ds"

    summary = run_ray(items, OPTIONS, out, max_retries=1, progress=False, work=crash_on_marker)
    st = statuses(summary)
    assert {k: s for k, (s, _) in st.items()} == {
        "a.json": "done", "b.json": "done", "crash_exit.json": "failed", "c.json": "done",
        "crash_segv.json": "failed", "d.json": "done"}
    for name in ("crash_exit.json", "crash_segv.json"):
        assert "crashed on this input 2 times (1 try + 1 retry)" in st[name][1]
    tries = (root / "tries.log").read_text().split()
    assert sorted(tries) == ["crash_exit"] * 2 + ["crash_segv"] * 2  # each retried once, no more
    assert isinstance(summary, RaySummary) and len(summary.deaths) == 4
    assert sorted(p.name for p in out.glob("*.npz")) == ["a.npz", "b.npz", "c.npz", "d.npz"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["failed"] == 2 and len(manifest["ray"]["worker_deaths"]) == 4
    assert "crash_segv.json" in summary.text()

    # Re-run: what is there is skipped (untouched), the crashing inputs are tried again.
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    (out / "c.npz").unlink()
    again = run_ray(items, OPTIONS, out, max_retries=0, progress=False, work=crash_on_marker)
    assert {k: s for k, (s, _) in statuses(again).items()} == {
        "a.json": "skipped", "b.json": "skipped", "crash_exit.json": "failed", "c.json": "done",
        "crash_segv.json": "failed", "d.json": "skipped"}
    assert "crashed on this input once" in statuses(again)["crash_exit.json"][1]
    assert len((root / "tries.log").read_text().split()) == 6
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    assert all(after[n] == before[n] for n in ("a.npz", "b.npz", "d.npz"))
    t = json.loads((out / "manifest.json").read_text())
    assert (t["skipped_existing"], t["done"], t["failed"], t["sequences"]) == (3, 1, 2, 20)


def test_unavailable_pose_model_stops_the_run(tmp_path):
    from formcheck.device.pose.mediapipe_backend import mediapipe_model_dir

    if (mediapipe_model_dir() / "pose_landmark" / "pose_landmark_heavy.tflite").exists():
        pytest.skip("the heavy model is installed here")
    write_video(tmp_path / "in" / "a.mp4", n=3)
    items = discover([tmp_path / "in"])
    with pytest.raises(BackendError, match="heavy"):
        run_ray(items, ExtractOptions(model="heavy", threads=1), tmp_path / "o", progress=False)
    assert not list((tmp_path / "o").rglob("*.npz"))


def test_worker_that_does_not_see_outdir_stops_with_a_clear_error(tmp_path):
    """What a node whose OUTDIR is a local folder, not the shared one, sees: no token file."""
    write_json(tmp_path / "in" / "a.json", aihub_doc(seed=1))
    [item] = discover([tmp_path / "in"])
    actor = ray.remote(num_cpus=1)(_Extractor).remote(OPTIONS, False, 30, str(tmp_path / "ds"),
                                                      ".formcheck-ray-absent", str(tmp_path), None, 1.0)
    with pytest.raises(SharedPathError, match="shared path"):
        ray.get(actor.process.remote(item))
    ray.kill(actor)
    assert not (tmp_path / "ds").exists()


# ---- the command line ------------------------------------------------------------------------------

def test_cli_engine_ray(tmp_path, capsys):
    from formcheck.train.extract import build_parser, main

    if "--engine" not in build_parser().format_help():
        pytest.skip("formcheck-extract has no --engine option yet")
    root = tmp_path / "in"
    for i in range(3):
        write_json(root / f"D{i}.json", aihub_doc(seed=i))
    write_json(root / "broken.json", "{")
    out = tmp_path / "ds"
    assert main([str(root), "-o", str(out), "--engine", "ray", "-q"]) == 1  # one input failed
    printed = capsys.readouterr().out
    assert "broken.json" in printed and "ray: 2 workers" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["engine"] == "ray" and manifest["command"][-3:] == ["--engine", "ray", "-q"]
    assert (manifest["done"], manifest["failed"]) == (3, 1)
    assert main([str(root), "-o", str(out), "--address", "auto", "-q"]) == 2  # needs --engine ray
    assert "--engine ray" in capsys.readouterr().err
