"""Landmark sequences and the on-disk landmark dataset format.

A *dataset* is a directory of ``.npz`` files (any depth; shards from several workers or
machines sit side by side and are read without a merge step) plus an optional
``manifest.json`` summary. Each ``.npz`` holds the sequences made from one input (one AI-Hub
label file = five views, one video, one synthetic clip) so that extraction can resume by
skipping inputs whose file exists. Inside a file:

- ``meta``: a JSON string, a list with one object per sequence (fields of
  :class:`LandmarkSequence` except the arrays);
- ``landmarks_<i>``: float32 ``(T, 33, 4)`` x, y, z, visibility in normalised image
  coordinates; NaN rows where no person was found;
- ``t_<i>``: float64 ``(T,)`` timestamps in seconds from the start of the clip.

Files are written to a temporary name and renamed, so a killed run never leaves a half file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from .pose.landmarks import NUM_LANDMARKS

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class DatasetError(ValueError):
    """A dataset file cannot be read as one: names the file and what is wrong."""


@dataclass
class LandmarkSequence:
    """One view of one clip: landmarks over time, with labels.

    ``conditions`` are the exercise's condition names (AI-Hub's Korean text, plus ``rom``),
    ``condition_values`` True/False or None when unknown (``rom`` for AI-Hub clips).
    ``correct`` is True when every known condition is true (None when nothing is known).
    ``reps`` are ``[start_frame, end_frame]`` pairs when known (synthetic clips).
    ``group`` keeps views/windows of the same clip (or subject) together in grouped splits.
    """

    id: str
    t: np.ndarray
    landmarks: np.ndarray
    exercise: str = ""
    conditions: list[str] = field(default_factory=list)
    condition_values: list[bool | None] = field(default_factory=list)
    correct: bool | None = None
    label: str = ""  # free label (video folders: correct/incorrect/<condition>)
    source: str = ""
    origin: str = ""  # aihub-labels | aihub-images | video | images | synthetic
    view: str = ""
    group: str = ""
    subject: str = ""
    image_size: tuple[int, int] = (0, 0)
    fps: float = 0.0
    reps: list[tuple[int, int]] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.t = np.asarray(self.t, dtype=np.float64)
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        if self.landmarks.ndim != 3 or self.landmarks.shape[1:] != (NUM_LANDMARKS, 4):
            raise ValueError(f"sequence {self.id}: landmarks must be (T, 33, 4), got {self.landmarks.shape}")
        if len(self.t) != len(self.landmarks):
            raise ValueError(f"sequence {self.id}: {len(self.t)} timestamps for {len(self.landmarks)} frames")
        self.image_size = tuple(int(v) for v in self.image_size)
        self.reps = [tuple(int(v) for v in r) for r in self.reps]

    @property
    def present(self) -> np.ndarray:
        """Frames where a person was found (any landmark; label-derived data lacks some points)."""
        return np.isfinite(self.landmarks[:, :, :2]).all(axis=2).any(axis=1)

    def meta(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("t", "landmarks")}
        d["image_size"] = list(self.image_size)
        d["reps"] = [list(r) for r in self.reps]
        return d


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


TMP_PREFIX = ".tmp-"  # a shard being written: renamed into place when whole


def write_sequences(path: str | os.PathLike, sequences: list[LandmarkSequence]) -> Path:
    """Atomically write sequences to one ``.npz`` file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"meta": np.array(json.dumps([s.meta() for s in sequences], ensure_ascii=False))}
    arrays["format_version"] = np.array(FORMAT_VERSION)
    for i, s in enumerate(sequences):
        arrays[f"landmarks_{i}"] = s.landmarks
        arrays[f"t_{i}"] = s.t
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        # mkstemp makes 0600 files; shards on a shared filesystem are read by other users
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_sequences(path: str | os.PathLike) -> list[LandmarkSequence]:
    """Read the sequences of one ``.npz`` file of the dataset format; raises
    :class:`DatasetError` naming the file for anything that is not one."""
    known = {f.name for f in fields(LandmarkSequence)}
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"]) if "format_version" in z else 1
            if version != FORMAT_VERSION:
                raise DatasetError(f"{path}: unsupported dataset format version {version}")
            metas = json.loads(str(z["meta"]))
            if not isinstance(metas, list) or not all(isinstance(m, dict) for m in metas):
                raise DatasetError(f"{path}: 'meta' must be a list of objects, one per sequence")
            out = []
            for i, m in enumerate(metas):
                m = {k: v for k, v in m.items() if k in known}
                _check_meta(m, f"{path}: sequence {i}")
                out.append(LandmarkSequence(t=z[f"t_{i}"], landmarks=z[f"landmarks_{i}"], **m))
    except DatasetError:
        raise
    # What numpy, zipfile and json raise for a file that is not a dataset file (truncated,
    # corrupt, a pickle, missing arrays, wrong shapes; zipfile's RuntimeError and
    # NotImplementedError: a flipped "encrypted" flag or compression method); OSError when it
    # cannot be read at all.
    except (OSError, EOFError, KeyError, TypeError, ValueError, RuntimeError, NotImplementedError,
            MemoryError, zipfile.BadZipFile, zlib.error) as e:
        raise DatasetError(f"{path}: not a readable dataset file ({type(e).__name__}: {e})") from e
    return out


_META_TYPES = {"id": str, "exercise": str, "label": str, "source": str, "origin": str, "view": str,
               "group": str, "subject": str, "conditions": list, "condition_values": list,
               "image_size": list, "reps": list, "extra": dict, "fps": (int, float),
               "correct": (bool, type(None))}


def _check_meta(m: dict, where: str) -> None:
    """The fields of one sequence's metadata have their types (JSON gives anything)."""
    if "id" not in m:
        raise DatasetError(f"{where}: missing field 'id'")
    for k, types in _META_TYPES.items():
        if k in m and (not isinstance(m[k], types) or (isinstance(m[k], bool) and bool not in
                                                      (types if isinstance(types, tuple) else (types,)))):
            raise DatasetError(f"{where}: field {k!r} has the wrong type ({type(m[k]).__name__})")
    if not all(isinstance(c, str) for c in m.get("conditions", [])):
        raise DatasetError(f"{where}: field 'conditions' must be a list of strings")
    if not all(v is None or isinstance(v, bool) for v in m.get("condition_values", [])):
        raise DatasetError(f"{where}: field 'condition_values' must be true, false or null")
    size = m.get("image_size", [0, 0])
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31 for v in size):
        raise DatasetError(f"{where}: field 'image_size' must be [width, height]")
    for r in m.get("reps", []):
        if (not isinstance(r, list) or len(r) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31 for v in r)):
            raise DatasetError(f"{where}: field 'reps' must be [start_frame, end_frame] pairs")


def dataset_files(root: str | os.PathLike) -> list[Path]:
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.npz") if not p.name.startswith(TMP_PREFIX))


def iter_dataset(root: str | os.PathLike) -> Iterator[LandmarkSequence]:
    """Every sequence under ``root`` (a dataset directory or one file); unreadable files are
    logged and skipped."""
    for p in dataset_files(root):
        try:
            yield from read_sequences(p)
        except Exception as e:  # a bad shard must not lose the others
            log.warning("skipping unreadable dataset file %s: %s", p, e)


def load_dataset(root: str | os.PathLike) -> list[LandmarkSequence]:
    return list(iter_dataset(root))


def write_manifest(root: str | os.PathLike, summary: dict) -> Path:
    path = Path(root) / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"format_version": FORMAT_VERSION, **summary}, indent=2,
                              ensure_ascii=False, default=str))
    os.replace(tmp, path)
    return path
