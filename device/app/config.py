"""The station's configuration: one TOML file, strictly validated, one dataclass per section.

Every key is documented in the packaged ``formcheck.toml``; errors name the dotted key; see
``docs/device.md``.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..checks import Bad, boolean, choice, integer, number, setting, show, text
from ..errors import ConfigError
from ..exercises import EXERCISES
from ..judging.conditions import ConditionConfig
from ..judging.judge_config import JudgeConfig
from ..outputs.gpio import bcm_pin, pin_factory_names, pins_in_use_twice
from ..outputs.history import HistorySettings
from ..outputs.speech import SpeechSettings
from ..pose.landmarks import BACKENDS

log = logging.getLogger(__name__)

SYSTEM_CONFIG = Path("/etc/formcheck/formcheck.toml")
PACKAGED_NAME = "formcheck.toml"


def _exercise(v):
    if not isinstance(v, str) or (v != "auto" and v not in EXERCISES):
        raise Bad('"auto" or an exercise id (' + ", ".join(EXERCISES) + ")")
    return v


def _source(v):
    # An int is a camera index; strings are parsed by sources.open_source at open time.
    if isinstance(v, bool) or not isinstance(v, int | str) or v == "":
        raise Bad('a camera index, "picamera2", a URL, a video file, an image folder or a landmark clip')
    if isinstance(v, int):
        if v < 0:
            raise Bad("a camera index >= 0")
        return str(v)
    return v


def _pin_factory(v):
    names = pin_factory_names()
    if not isinstance(v, str) or (v and v.lower() not in names):
        raise Bad('"" (gpiozero\'s choice) or an installed gpiozero pin factory ('
                  + (", ".join(names) or "none installed") + ")")
    return v.lower()


def _size(v):
    desc = "[width, height] in pixels, each 16..4096"
    if not isinstance(v, list) or len(v) != 2 or any(
            isinstance(x, bool) or not isinstance(x, int) or not 16 <= x <= 4096 for x in v):
        raise Bad(desc)
    return (v[0], v[1])


_ID = re.compile(r"^[A-Za-z0-9_-]*$")


def _ident(v):
    if not isinstance(v, str) or not _ID.match(v):
        raise Bad("letters, digits, '_' or '-' only")
    return v


def _json_mode(v):
    if v is True or v is False or v == "auto":
        return v
    raise Bad('true, false or "auto"')


def _topic(v):
    if not isinstance(v, str) or not v or any(c in v for c in "#+\0") or v.startswith("/") or v.endswith("/"):
        raise Bad("an MQTT topic prefix without wildcards or leading/trailing '/'")
    return v


# ---- the sections ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StationConfig:
    exercise: str = setting("auto", _exercise)
    pose_backend: str = setting("litert", choice(*BACKENDS))
    pose_model: str = setting("full", choice("lite", "full", "heavy"))
    threads: int = setting(0, integer(0, 64))
    pose_pipeline: int = setting(1, integer(1, 8))
    window_mode: str = setting("model", choice("model", "sliding", "rep"))
    ready_timeout: float = setting(10.0, number(0.0, 600.0))
    allow_degraded: bool = setting(False, boolean)


@dataclass(frozen=True)
class CameraConfig:
    source: str = setting("0", _source, path=True)
    size: tuple[int, int] = setting((640, 480), _size)
    fps: float = setting(30.0, number(0.0, 240.0, lo_open=True))
    realtime: bool = setting(True, boolean)
    rotate: int = setting(0, choice(0, 90, 180, 270))
    flip: bool = setting(False, boolean)
    view: str = setting("auto", choice("auto", "front", "oblique", "side"))
    reconnect_max: float = setting(30.0, number(0.1, 3600.0))


@dataclass(frozen=True)
class ModelsConfig:
    dir: str = setting("", text, path=True)


@dataclass(frozen=True)
class GpioConfig:
    enabled: bool = setting(True, boolean)
    pin_factory: str = setting("", _pin_factory)
    green_pin: int = setting(17, bcm_pin)
    red_pin: int = setting(27, bcm_pin)
    amber_pin: int = setting(22, bcm_pin)
    buzzer_pin: int = setting(18, bcm_pin)
    button_pin: int = setting(23, bcm_pin)
    buzzer: bool = setting(True, boolean)
    long_press: float = setting(2.0, number(0.2, 30.0))


@dataclass(frozen=True)
class DisplayConfig:
    enabled: bool = setting(True, boolean)
    driver: str = setting("ssd1306", choice("ssd1306", "sh1106"))
    address: int = setting(0x3C, integer(0x03, 0x77))
    port: int = setting(1, integer(0, 255))
    width: int = setting(128, choice(128))
    height: int = setting(64, choice(32, 64))
    rotate: int = setting(0, choice(0, 90, 180, 270))


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = setting(False, boolean)
    host: str = setting("localhost", text)
    port: int = setting(1883, integer(1, 65535))
    topic: str = setting("formcheck", _topic)
    station_id: str = setting("", _ident)
    username: str = setting("", text)
    password: str = setting("", text)
    tls: bool = setting(False, boolean)
    discovery: bool = setting(True, boolean)
    discovery_prefix: str = setting("homeassistant", _topic)
    keepalive: int = setting(30, integer(5, 3600))


@dataclass(frozen=True)
class SetupConfig:
    duration: float = setting(900.0, number(1.0, 86400.0))
    bind: str = setting("0.0.0.0", text)
    port: int = setting(8080, integer(0, 65535))
    button_hold: float = setting(6.0, number(0.0, 60.0))
    frame_rate: float = setting(4.0, number(0.0, 30.0, lo_open=True))
    frame_width: int = setting(480, integer(64, 1920))
    jpeg_quality: int = setting(70, integer(10, 95))
    pin_attempts: int = setting(5, integer(1, 100))
    pin_lockout: float = setting(30.0, number(0.0, 3600.0))
    pin_max_failures: int = setting(20, integer(1, 10000))


@dataclass(frozen=True)
class LoggingConfig:
    level: str = setting("info", choice("debug", "info", "warning", "error"))
    json: bool | str = setting("auto", _json_mode)
    stats_interval: float = setting(30.0, number(0.0, 86400.0))


SECTIONS: dict[str, type] = {
    "station": StationConfig,
    "camera": CameraConfig,
    "models": ModelsConfig,
    "gpio": GpioConfig,
    "display": DisplayConfig,
    "mqtt": MqttConfig,
    "judge": JudgeConfig,
    "conditions": ConditionConfig,
    "speech": SpeechSettings,
    "history": HistorySettings,
    "setup": SetupConfig,
    "logging": LoggingConfig,
}


@dataclass(frozen=True)
class Config:
    station: StationConfig = field(default_factory=StationConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    conditions: ConditionConfig = field(default_factory=ConditionConfig)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    setup: SetupConfig = field(default_factory=SetupConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    path: str | None = field(default=None, compare=False)  # the file it came from

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name in SECTIONS:
            sec = getattr(self, name)
            out[name] = {f.name: _plain(getattr(sec, f.name)) for f in fields(sec)}
        return out

    def to_toml(self) -> str:
        """The effective config as TOML that :func:`loads` reads back to an equal Config."""
        lines = []
        if self.path:
            lines.append(f"# effective configuration (file: {self.path})")
        for name, values in self.to_dict().items():
            lines.append(f"\n[{name}]")
            for k, v in values.items():
                if name == "mqtt" and k == "password" and v:
                    lines.append("# password = (set; hidden)")  # never print a secret
                elif name == "display" and k == "address":
                    lines.append(f"{k} = 0x{v:02X}")
                else:
                    lines.append(f"{k} = {toml_value(v)}")
        return "\n".join(lines).lstrip("\n") + "\n"


def _plain(v: Any) -> Any:
    """A section value as plain data: tuples as lists, mappings (a table of thresholds) as dicts."""
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, Mapping):
        return dict(v)
    return v


def toml_value(v: Any) -> str:
    """``v`` (bool, number, string, list or table) written as a TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


# ---- building and validating ------------------------------------------------------------------

def _resolve_path(value: str, base: Path | None, key: str) -> str:
    if not value or base is None:
        return value
    if key == "camera.source":
        # Only a relative path that exists next to the config file is rewritten: "0",
        # "picamera2" and URLs are not paths.
        from ..capture.sources import looks_like_path

        if not looks_like_path(value) or Path(value).is_absolute():
            return value
        candidate = base / value
        return str(candidate) if candidate.exists() else value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


def _build(data: dict, base: Config, relative_to: Path | None, problems: list[str]) -> Config:
    if not isinstance(data, dict):
        problems.append("the file must be a TOML table of sections")
        return base
    sections = {}
    for name, table in data.items():
        if name not in SECTIONS:
            problems.append(f"{name}: unknown section (known: {', '.join(SECTIONS)})")
            continue
        if not isinstance(table, dict):
            problems.append(f"{name}: expected a [{name}] table, got {show(table)}")
            continue
        cls = SECTIONS[name]
        known = {f.name: f for f in fields(cls)}
        changes = {}
        for key, value in table.items():
            dotted = f"{name}.{key}"
            if key not in known:
                problems.append(f"{dotted}: unknown key (known: {', '.join(known)})")
                continue
            meta = known[key].metadata
            try:
                value = meta["check"](value)
            except Bad as e:
                problems.append(f"{dotted}: expected {e}, got {show(value)}")
                continue
            if meta.get("path"):
                if "\0" in value:  # no file system takes it; Path.exists() would raise
                    problems.append(f"{dotted}: a path cannot contain a NUL character")
                    continue
                value = _resolve_path(value, relative_to, dotted)
            changes[key] = value
        try:
            sections[name] = replace(getattr(base, name), **changes)
        except ConfigError as e:  # a section's own cross-checks ([judge] min_rep < max_rep)
            problems.extend(e.problems)
    cfg = replace(base, **sections)
    _cross_check(cfg, problems)
    return cfg


def _cross_check(cfg: Config, problems: list[str]) -> None:
    g = cfg.gpio
    if g.enabled:
        names = ("green_pin", "red_pin", "amber_pin", "buzzer_pin", "button_pin")
        problems += pins_in_use_twice({n: getattr(g, n) for n in names}, "gpio.")
    if cfg.setup.button_hold and cfg.setup.button_hold <= cfg.gpio.long_press:
        problems.append(f"setup.button_hold: must be longer than gpio.long_press ({cfg.gpio.long_press})")


def loads(text: str, base: Config | None = None, source: str | None = None,
          relative_to: Path | None = None) -> Config:
    """Parse TOML text into a Config (defaults for anything unset)."""
    try:
        data = tomllib.loads(text)
    except ValueError as e:  # TOMLDecodeError, or an integer past Python's parsing limit
        raise ConfigError([f"not valid TOML: {e}"], source) from None
    problems: list[str] = []
    cfg = _build(data, base or Config(), relative_to, problems)
    if problems:
        raise ConfigError(problems, source)
    return replace(cfg, path=source)


def load(path: str | Path) -> Config:
    """Read and validate one config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"cannot read the config file: {e.strerror or e}"], str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(["the config file is not UTF-8 text"], str(path)) from None
    return loads(text, source=str(path), relative_to=path.resolve().parent)


def packaged_default_text() -> str:
    return resources.files("formcheck.device.app").joinpath(PACKAGED_NAME).read_text(encoding="utf-8")


def default_config_path() -> Path | None:
    """``/etc/formcheck/formcheck.toml`` when it exists, else None (the packaged default)."""
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def load_default() -> Config:
    """The system config when present, else the packaged default."""
    path = default_config_path()
    if path is not None:
        return load(path)
    return loads(packaged_default_text(), source=f"(packaged {PACKAGED_NAME})")


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """Set dotted keys (``{"camera.source": "clip.mp4"}``), validated like the file."""
    data: dict[str, dict[str, Any]] = {}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        data.setdefault(section, {})[key] = value
    problems: list[str] = []
    out = _build(data, cfg, None, problems)
    if problems:
        raise ConfigError(problems, "command line")
    return replace(out, path=cfg.path)


def documented_keys(text: str) -> dict[str, str]:
    """``{"section.key": comment}`` for every key in a commented TOML text: the comment block
    above the key, shared by keys listed right under each other (``min_rep`` / ``max_rep``).
    Used to check that the packaged default documents every key."""
    out: dict[str, str] = {}
    section = ""
    comment: list[str] = []
    block = ""
    for raw in text.splitlines():
        line = raw.strip()
        if m := re.match(r"^\[([A-Za-z0-9_]+)\]$", line):
            section, comment, block = m.group(1), [], ""
        elif line.startswith("#"):
            comment.append(line.lstrip("#").strip())
        elif m := re.match(r"^([A-Za-z0-9_]+)\s*=", line):
            if comment:
                block = " ".join(c for c in comment if c)
                comment = []
            out[f"{section}.{m.group(1)}"] = block
        elif not line:
            comment, block = [], ""
    return out
