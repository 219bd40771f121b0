"""``formcheck-extract`` as a process stopped by SIGTERM (a scheduler, ``systemctl stop``, a
``kill``): handled like Ctrl-C on both engines, with nothing left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from helpers import wait_until, write_video

from formcheck.device.sequences import TMP_PREFIX

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

TAG = "FORMCHECK_TEST_RUN"


def tagged(tag: str) -> list[str]:
    """Live processes that carry ``tag`` in their environment: the run and everything it
    started (pool workers, the resource tracker, Ray's daemons and workers inherit it)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes().split(b"\0")
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours
            continue
        if f"{TAG}={tag}".encode() in env:
            found.append(f"{d.name}: {cmd[:120]}")
    return found


def videos(root: Path, n: int, frames: int) -> None:
    for i in range(n):
        write_video(root / "squat" / "correct" / f"clip{i}.mp4", n=frames)


def start(args: list[str], tag: str, logs: Path) -> subprocess.Popen:
    """The CLI as a process; its output goes to files (a leaked child holding a pipe open
    would otherwise hang the test instead of failing it)."""
    env = dict(os.environ, **{TAG: tag})
    logs.mkdir(exist_ok=True)
    with open(logs / "stdout", "w") as so, open(logs / "stderr", "w") as se:
        return subprocess.Popen([sys.executable, "-m", "formcheck.train.extract", *args], env=env,
                                stdout=so, stderr=se, text=True)


def shards(out: Path) -> set[str]:
    return {p.name for p in out.rglob("*.npz") if not p.name.startswith(TMP_PREFIX)}


def outputs(logs: Path) -> tuple[str, str]:
    return (logs / "stdout").read_text(), (logs / "stderr").read_text()


def terminate_mid_run(proc: subprocess.Popen, logs: Path, out: Path, tag: str, helpers_at_least: int,
                      timeout: float) -> tuple[str, str, dict]:
    """SIGTERM once the first shard is written while more are in flight; the run's output
    and manifest, after checking that nothing it started is left."""
    try:
        # a whole shard, not one still being written under its temporary name
        assert wait_until(lambda: bool(shards(out)) or proc.poll() is not None, timeout, poll=0.1)
        assert proc.poll() is None, outputs(logs)
        # The run has helper processes now: the check below can see a leak.
        assert len(tagged(tag)) >= 1 + helpers_at_least, tagged(tag)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout, stderr = outputs(logs)
    wait_until(lambda: not tagged(tag), 15.0, poll=0.2)
    left = tagged(tag)
    for line in left:  # ours, by id: never leave them to the next test
        os.kill(int(line.split(":")[0]), signal.SIGKILL)
    assert not left, f"processes left running after SIGTERM: {left}"
    assert proc.returncode == 143, (proc.returncode, stdout, stderr[-3000:])
    assert "Traceback" not in stderr, stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    return stdout, stderr, manifest


def test_sigterm_stops_the_local_pool_like_ctrl_c_and_the_rerun_resumes(tmp_path):
    root, out, tag = tmp_path / "in", tmp_path / "ds", uuid.uuid4().hex
    videos(root, 6, 40)
    args = [str(root), "-o", str(out), "--workers", "2", "-q"]
    logs = tmp_path / "logs"
    stdout, _, manifest = terminate_mid_run(start(args, tag, logs), logs, out, tag, helpers_at_least=2,
                                            timeout=180)

    assert "INTERRUPTED by SIGTERM: re-run to resume" in stdout
    assert manifest["interrupted"] is True and manifest["stopped_by"] == "SIGTERM"
    done = {Path(f["output"]).name for f in manifest["files"] if f["status"] == "done"}
    assert 1 <= len(done) < 6 and manifest["total_inputs"] == 6
    assert {p.name for p in out.rglob("*.npz")} == done  # written atomically: no partial shard

    # Re-run: what finished is kept, the rest extracted.
    rerun = start(args, tag, tmp_path / "logs2")
    assert rerun.wait(timeout=300) == 0, outputs(tmp_path / "logs2")[1][-3000:]
    again = json.loads((out / "manifest.json").read_text())
    assert (again["skipped_existing"], again["done"], again["interrupted"]) == (len(done), 6 - len(done), False)


def test_sigterm_stops_the_ray_engine_and_its_local_instance(tmp_path):
    pytest.importorskip("ray")
    root, out, tag = tmp_path / "in", tmp_path / "ds", uuid.uuid4().hex
    videos(root, 6, 40)
    args = [str(root), "-o", str(out), "--engine", "ray", "--ray-num-cpus", "2", "-q"]
    t0 = time.monotonic()
    # helpers: Ray's own daemons (gcs_server, raylet, ...) and the two workers
    logs = tmp_path / "logs"
    stdout, _, manifest = terminate_mid_run(start(args, tag, logs), logs, out, tag, helpers_at_least=4,
                                            timeout=240)

    assert time.monotonic() - t0 < 300
    assert "INTERRUPTED by SIGTERM: re-run to resume" in stdout
    assert manifest["engine"] == "ray" and manifest["stopped_by"] == "SIGTERM"
    done = [f for f in manifest["files"] if f["status"] == "done"]
    assert 1 <= len(done) < 6
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the run's token file removed
