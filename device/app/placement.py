"""Saving the camera placement (exercise, view, rotation, mirror) into the station's TOML file.

Only the placement's keys change: every other line, comment and secret of the file stays as it
was. The new text is validated by the same loader as any config file before it replaces the
old one atomically (a temporary file in the same folder, fsynced, renamed), so a failed save
leaves the old file whole.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from . import config as C

# Placement field -> config key.
PLACEMENT_KEYS: dict[str, str] = {
    "exercise": "station.exercise",
    "view": "camera.view",
    "rotate": "camera.rotate",
    "flip": "camera.flip",
}


def placement_of(cfg: C.Config) -> dict[str, Any]:
    return {"exercise": cfg.station.exercise, "view": cfg.camera.view, "rotate": cfg.camera.rotate,
            "flip": cfg.camera.flip}


def overrides_of(placement: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(placement) - set(PLACEMENT_KEYS))
    if unknown:
        raise C.ConfigError([f"{k}: not a placement field (known: {', '.join(PLACEMENT_KEYS)})"
                             for k in unknown], "placement")
    return {PLACEMENT_KEYS[k]: v for k, v in placement.items()}



_HEADER = re.compile(r"^\s*\[([A-Za-z0-9_]+)\]\s*(#.*)?$")


def set_keys(text: str, values: dict[str, Any]) -> str:
    """``text`` with each dotted key set to its value: the key's line replaced where it is,
    else added to its section, else the section added at the end."""
    lines = text.splitlines()
    for dotted, value in values.items():
        section, _, key = dotted.partition(".")
        line = f"{key} = {C.toml_value(value)}"
        key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
        start = next((i for i, s in enumerate(lines) if (m := _HEADER.match(s)) and m.group(1) == section), None)
        if start is None:
            lines += ([""] if lines and lines[-1].strip() else []) + [f"[{section}]", line]
            continue
        end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
        found = next((i for i in range(start + 1, end) if key_re.match(lines[i])), None)
        if found is not None:
            lines[found] = line
        else:
            last = max([i for i in range(start, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")],
                       default=start)
            lines.insert(last + 1, line)
    return "\n".join(lines) + "\n"


def save_placement(path: str | Path, placement: dict[str, Any]) -> C.Config:
    """Write ``placement`` into the config file at ``path`` (created when absent); the new
    effective Config. Raises ConfigError (nothing written) when a value or the result is invalid,
    OSError when the file cannot be written."""
    path = Path(path)
    overrides = overrides_of(placement)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    current = C.loads(text, source=str(path), relative_to=path.resolve().parent)
    C.apply_overrides(current, overrides)  # names the bad key the way the command line does
    new_text = set_keys(text, overrides)
    cfg = C.loads(new_text, source=str(path), relative_to=path.resolve().parent)
    _write_atomically(path, new_text)
    return cfg


def _write_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
