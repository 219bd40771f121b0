"""Shared fixtures. Real data from ../shared/data is optional: tests that use it skip cleanly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FORMCHECK_SHARED_DATA", REPO.parent / "shared" / "data"))


def _shared(sub: str) -> Path:
    p = SHARED_DATA / sub
    if not p.exists():
        pytest.skip(f"{p} is absent (reference data lives beside the repo in ../shared/data)")
    return p


@pytest.fixture(scope="session")
def aihub_sample_dir() -> Path:
    return _shared("aihub-sample")


@pytest.fixture(scope="session")
def videos_dir() -> Path:
    return _shared("videos")


@pytest.fixture(scope="session", autouse=True)
def _private_state_directory(tmp_path_factory):
    """Stations started by tests (in-process or as subprocesses) keep their rep history and
    speech cache in a temporary folder, never in the user's state directory."""
    base = tmp_path_factory.mktemp("state")
    saved = {k: os.environ.get(k) for k in ("STATE_DIRECTORY", "CACHE_DIRECTORY")}
    os.environ["STATE_DIRECTORY"] = str(base / "state")
    os.environ["CACHE_DIRECTORY"] = str(base / "cache")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _no_system_config(monkeypatch):
    """A machine's own /etc/formcheck/formcheck.toml must not change what the tests run."""
    from formcheck.device.app import config as C

    monkeypatch.setattr(C, "SYSTEM_CONFIG", Path("/nonexistent/formcheck.toml"))


@pytest.fixture(autouse=True)
def _no_tensorflow_block_leak():
    """The station's main() blocks TensorFlow for its process; don't leak that into other tests."""
    had = "tensorflow" in sys.modules
    yield
    if not had and sys.modules.get("tensorflow", 0) is None:
        del sys.modules["tensorflow"]
