"""The station's TOML config: the packaged default documents every key, bad input is refused
with the dotted key named, command-line overrides are validated the same way."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from formcheck.device.app import config as C
from formcheck.device.app.config import Config, ConfigError


def test_packaged_default_is_valid_and_equals_the_built_in_defaults():
    cfg = C.loads(C.packaged_default_text())
    assert cfg == Config()


def test_packaged_default_documents_every_key():
    documented = C.documented_keys(C.packaged_default_text())
    expected = {f"{name}.{f.name}" for name, cls in C.SECTIONS.items() for f in fields(cls)}
    assert set(documented) == expected, set(documented) ^ expected
    thin = {k: v for k, v in documented.items() if len(v) < 15}
    assert not thin, f"keys without a real comment: {thin}"


def test_partial_file_keeps_defaults_and_resolves_paths_next_to_it(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "clip.mp4").write_bytes(b"")
    p = tmp_path / "station.toml"
    p.write_text('[station]\nexercise = "squat"\nthreads = 2\n[models]\ndir = "models"\n'
                 '[camera]\nsource = "clip.mp4"\n[display]\naddress = 0x3D\n')
    cfg = C.load(p)
    assert cfg.station.exercise == "squat" and cfg.station.threads == 2
    assert cfg.station.pose_backend == "litert"  # untouched default
    assert cfg.models.dir == str(tmp_path / "models")
    assert cfg.camera.source == str(tmp_path / "clip.mp4")
    assert cfg.display.address == 0x3D
    assert cfg.path == str(p)


def test_camera_index_and_urls_are_not_treated_as_paths(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[camera]\nsource = 2\n")
    assert C.load(p).camera.source == "2"
    p.write_text('[camera]\nsource = "rtsp://cam.local/stream"\n')
    assert C.load(p).camera.source == "rtsp://cam.local/stream"


@pytest.mark.parametrize(("toml", "message"), [
    ('[gpio]\ngreen_pin = "x"\n', 'gpio.green_pin: expected an integer 0..27, got "x"'),
    ("[gpio]\ngreen_pin = 40\n", "gpio.green_pin: expected an integer 0..27, got 40"),
    ("[gpio]\ngreen_pin = true\n", "gpio.green_pin: expected an integer 0..27, got true"),
    ('[station]\nexercise = "squats"\n', 'station.exercise: expected "auto" or an exercise id'),
    ('[station]\npose_backend = "opencv"\n', 'station.pose_backend: expected one of "mediapipe"'),
    ("[station]\nthreads = -1\n", "station.threads: expected an integer 0..64, got -1"),
    ("[camera]\nsize = [640]\n", "camera.size: expected [width, height]"),
    ("[camera]\nfps = 0\n", "camera.fps: expected a number > 0"),
    ('[camera]\nrealtime = "yes"\n', 'camera.realtime: expected true or false, got "yes"'),
    ("[camera]\nrotate = 45\n", "camera.rotate: expected one of 0, 90, 180, 270, got 45"),
    ("[display]\naddress = 0x99\n", "display.address: expected an integer 3..119"),
    ('[display]\ndriver = "ssd1309"\n', 'display.driver: expected one of "ssd1306", "sh1106"'),
    ("[mqtt]\nport = 70000\n", "mqtt.port: expected an integer 1..65535, got 70000"),
    ('[mqtt]\nstation_id = "gym 1"\n', "mqtt.station_id: expected letters, digits"),
    ('[mqtt]\ntopic = "a/#"\n', "mqtt.topic: expected an MQTT topic prefix"),
    ('[logging]\nlevel = "loud"\n', 'logging.level: expected one of "debug"'),
    ("[station]\ncolour = 1\n", "station.colour: unknown key"),
    ("[stations]\nexercise = 1\n", "stations: unknown section"),
    ("station = 3\n", "station: expected a [station] table, got 3"),
    ("[gpio]\nred_pin = 17\n", "gpio.red_pin: pin 17 is already used by gpio.green_pin"),
    ("[judge]\nmin_rep = 5.0\nmax_rep = 2.0\n", "judge.max_rep: must be longer than judge.min_rep"),
])
def test_bad_values_name_the_dotted_key(toml, message):
    with pytest.raises(ConfigError) as e:
        C.loads(toml, source="test.toml")
    assert message in str(e.value)
    assert str(e.value).startswith("test.toml: ")


def test_every_problem_in_a_file_is_reported_at_once():
    with pytest.raises(ConfigError) as e:
        C.loads('[gpio]\ngreen_pin = "x"\n[camera]\nfps = -1\n[bogus]\n')
    assert len(e.value.problems) == 3
    assert "3 problems" in str(e.value)


def test_toml_syntax_errors_and_unreadable_files(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("[station\nexercise = 'squat'\n")
    with pytest.raises(ConfigError, match=r"broken.toml: not valid TOML: .*line 1"):
        C.load(p)
    with pytest.raises(ConfigError, match="cannot read the config file"):
        C.load(tmp_path / "missing.toml")
    p.write_bytes(b"\xff\xfe[station]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        C.load(p)


def test_overrides_are_validated_like_the_file():
    cfg = C.apply_overrides(Config(), {"camera.source": "clip.mp4", "station.threads": 2,
                                       "camera.realtime": False})
    assert (cfg.camera.source, cfg.station.threads, cfg.camera.realtime) == ("clip.mp4", 2, False)
    with pytest.raises(ConfigError, match=r"command line: station\.exercise: expected"):
        C.apply_overrides(cfg, {"station.exercise": "pushup"})


def test_effective_config_round_trips_through_toml(tmp_path):
    cfg = C.apply_overrides(Config(), {"station.exercise": "side_lunge", "camera.size": [320, 240],
                                       "mqtt.enabled": True, "display.address": 0x3D,
                                       "logging.stats_interval": 5.5})
    text = cfg.to_toml()
    assert "address = 0x3D" in text
    assert C.loads(text) == cfg


def test_effective_config_never_prints_the_mqtt_password():
    cfg = C.apply_overrides(Config(), {"mqtt.password": "hunter2"})
    assert "hunter2" not in cfg.to_toml()


def test_load_default_prefers_the_system_file(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    assert C.load_default() == Config()
    sys_cfg = tmp_path / "formcheck.toml"
    sys_cfg.write_text('[station]\nexercise = "squat"\n')
    monkeypatch.setattr(C, "SYSTEM_CONFIG", sys_cfg)
    assert C.load_default().station.exercise == "squat"
    assert Path(C.load_default().path) == sys_cfg
