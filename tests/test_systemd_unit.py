"""The Pi install: the systemd unit, the installer, and whether a Pi can install the package at all.

- the unit passes ``systemd-analyze verify`` and rates at most 2.0 in
  ``systemd-analyze security --offline=true``, and its paths agree with each other;
- ``systemd/install.sh`` run into temporary roots (``--root``): the tree it creates, the config it
  never overwrites once edited, the upgrade path, the calls it makes to systemctl and the account
  tools (through fakes), ``--uninstall`` / ``--purge``, and its refusal of 32-bit systems and old
  Pythons;
- (``network``) the ``device`` extra resolves to wheels for 64-bit Raspberry Pi OS Bookworm and
  Trixie (Linux aarch64, glibc 2.36, CPython 3.11 / 3.12 / 3.13), without mediapipe.

The daemon's sd_notify behaviour under a real NOTIFY_SOCKET is tested in test_systemd_notify.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tomllib
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "formcheck.service"
INSTALL = REPO / "systemd" / "install.sh"
PACKAGED_CONFIG = REPO / "device" / "app" / "formcheck.toml"
MAX_EXPOSURE = 2.0

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed (apt install systemd)")
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


# ---- the unit ----------------------------------------------------------------------------

def unit_settings(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> values in order; repeated keys (DeviceAllow=...) keep every value."""
    out: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min)?", value)
    assert m, f"unparsed time span {value!r}"
    return float(m.group(1)) * {"ms": 0.001, None: 1.0, "s": 1.0, "min": 60.0}[m.group(2)]


def unit_copy_for_verify(tmp_path: Path) -> Path:
    """The unit with ExecStart's binary swapped for one that exists here, arguments kept:
    verify checks that the command is executable, and /opt/formcheck is not installed here."""
    text = UNIT.read_text()
    assert "ExecStart=/opt/formcheck/venv/bin/formcheck-station " in text
    text = text.replace("ExecStart=/opt/formcheck/venv/bin/formcheck-station ", f"ExecStart={sys.executable} ")
    path = tmp_path / "formcheck.service"
    path.write_text(text)
    return path


@needs_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path):
    unit = unit_copy_for_verify(tmp_path)
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    complaints = [ln for ln in (r.stdout + r.stderr).splitlines() if "formcheck" in ln]
    assert r.returncode == 0 and not complaints, r.stdout + r.stderr


@needs_analyze
def test_unit_security_exposure_at_most_2(tmp_path, record_property):
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNIT)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for formcheck\.service:\s*([\d.]+)", r.stdout + r.stderr)
    assert m, f"no exposure figure in:\n{r.stdout}\n{r.stderr}"
    exposure = float(m.group(1))
    record_property("security_exposure", exposure)
    print(f"\nsystemd-analyze security --offline=true: exposure {exposure} (limit {MAX_EXPOSURE})")
    assert exposure <= MAX_EXPOSURE, r.stdout


def test_unit_service_contract():
    s = unit_settings(UNIT.read_text())

    def one(key, section="Service"):
        values = s.get((section, key))
        assert values and len(values) == 1, f"{section}.{key}: {values}"
        return values[0]

    assert one("Type") == "notify" and one("NotifyAccess") == "main"
    # The command the installer's paths make: the venv's console script and the installed config.
    assert one("ExecStart") == "/opt/formcheck/venv/bin/formcheck-station --config /etc/formcheck/formcheck.toml"
    # The station pings every WatchdogSec/2 from its loop; a ~0.3 s Pi 4 iteration must leave a
    # margin of well over 10x, and start-up (imports + model load before READY) needs minutes.
    assert seconds(one("WatchdogSec")) / 2 >= 10
    assert seconds(one("TimeoutStartSec")) >= 120
    assert one("Restart") == "on-failure"
    assert "2" in one("RestartPreventExitStatus").split()  # config errors: do not retry
    assert int(one("StartLimitBurst", "Unit")) >= 3 and seconds(one("StartLimitIntervalSec", "Unit")) >= 60
    assert one("User") == "formcheck" and "DynamicUser" not in {k for _, k in s}
    assert set(one("SupplementaryGroups").split()) >= {"video", "gpio", "i2c"}
    assert one("StandardOutput") == "journal" and one("StandardError") == "journal"


def test_unit_paths_are_writable_where_the_station_writes():
    """Under ProtectSystem=strict only the State/Cache/Runtime directories are writable: the
    working directory, lgpio's FIFO dir (LG_WD) and matplotlib's cache must be inside them,
    or gpiozero silently loses its pin factory and matplotlib warns on every start."""
    s = unit_settings(UNIT.read_text())
    assert s[("Service", "ProtectSystem")] == ["strict"]
    writable = [f"/var/lib/{s[('Service', 'StateDirectory')][0]}",
                f"/var/cache/{s[('Service', 'CacheDirectory')][0]}",
                f"/run/{s[('Service', 'RuntimeDirectory')][0]}"]
    env = dict(kv.split("=", 1) for line in s[("Service", "Environment")] for kv in line.split())
    for what, path in [("WorkingDirectory", s[("Service", "WorkingDirectory")][0]),
                       ("LG_WD", env["LG_WD"]), ("MPLCONFIGDIR", env["MPLCONFIGDIR"])]:
        assert any(path == w or path.startswith(w + "/") for w in writable), f"{what}={path} is read-only"
    assert s[("Service", "ConfigurationDirectory")] == ["formcheck"]
    # the setup page's Save replaces /etc/formcheck/formcheck.toml (temporary file + rename):
    # the config folder, and nothing wider, is writable too
    assert s[("Service", "ReadWritePaths")] == ["/etc/formcheck"]
    assert s[("Service", "ConfigurationDirectoryMode")] == ["0775"]


def test_unit_sandbox_keeps_the_hardware_reachable():
    s = unit_settings(UNIT.read_text())
    assert "PrivateDevices" not in {k for _, k in s}, "PrivateDevices hides camera, GPIO and I2C"
    assert s[("Service", "DevicePolicy")] == ["closed"]
    allowed = {v.split()[0] for v in s[("Service", "DeviceAllow")]}
    assert {"char-video4linux", "char-media", "char-dma_heap", "char-gpiochip", "char-i2c"} <= allowed
    families = set(s[("Service", "RestrictAddressFamilies")][0].split())
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= families  # sd_notify + MQTT
    assert s[("Service", "CapabilityBoundingSet")] == [""]
    assert s[("Service", "MemoryDenyWriteExecute")] == ["yes"]


def test_unit_command_line_and_default_config_pass_check_config(tmp_path):
    """What the installed service would run, with the config the installer puts in /etc."""
    config = tmp_path / "formcheck.toml"
    shutil.copy(PACKAGED_CONFIG, config)
    args = unit_settings(UNIT.read_text())[("Service", "ExecStart")][0].split()[1:]
    args = [str(config) if a == "/etc/formcheck/formcheck.toml" else a for a in args]
    r = subprocess.run([sys.executable, "-c", "import sys; from formcheck.device.app.cli import main; "
                        "sys.exit(main(sys.argv[1:]))", *args, "--check-config"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- the installer -------------------------------------------------------------------------

def build_wheel(tmp_path: Path, version: str, config_note: str = "") -> Path:
    """A formcheck wheel built from a copy of the checkout (never writes build/ into the repo),
    with the given version and, optionally, a changed default config (an upgrade's new default)."""
    src = tmp_path / f"src-{version}"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.tflite.tmp")
    for name in ("device", "train", "convert"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    shutil.copy(REPO / "README.md", src / "README.md")
    pyproject = (REPO / "pyproject.toml").read_text()
    pyproject = re.sub(r'(?m)^version = "[^"]+"', f'version = "{version}"', pyproject, count=1)
    (src / "pyproject.toml").write_text(pyproject)
    if config_note:
        with open(src / "device" / "app" / "formcheck.toml", "a") as f:
            f.write(f"\n# {config_note}\n")
    out = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", str(out), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = out.glob(f"formcheck-{version}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheels")
    return {"old": build_wheel(tmp, "0.1.0"),
            "new": build_wheel(tmp, "0.1.1", config_note="new in 0.1.1: a default changed")}


def installer_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORMCHECK_")}
    # The interpreter behind the test's own venv: same ABI, so the test's packages can stand in
    # for the device extra (installed --no-deps, offline) through a .pth file.
    env["FORMCHECK_PYTHON"] = getattr(sys, "_base_executable", sys.executable)
    env["FORMCHECK_PIP_ARGS"] = "--no-deps --no-index"
    env.update(extra)
    return env


def run_install(*args: str, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                       env=env if env is not None else installer_env(), timeout=600)
    if ok:
        assert r.returncode == 0, f"install.sh {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def venv_site_packages(root: Path) -> Path:
    (sp,) = (root / "opt/formcheck/venv/lib").glob("python3*/site-packages")
    return sp


def lend_test_packages(root: Path) -> None:
    """Make numpy & co. importable in the offline-installed venv, as the real install would."""
    (venv_site_packages(root) / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")


def installed_version(root: Path) -> str:
    r = subprocess.run([str(root / "opt/formcheck/venv/bin/python"), "-I", "-c",
                        "from importlib.metadata import version; print(version('formcheck'))"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def write_fake(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def install_with_python(tmp_path: Path, reported: str) -> subprocess.CompletedProcess:
    """The installer on a 64-bit kernel whose python3 reports ``reported`` ("major minor bits")."""
    py = write_fake(tmp_path / "python3", f'echo "{reported}"\n')
    return run_install("--root", str(tmp_path), env=installer_env(FORMCHECK_UNAME_M="aarch64",
                                                                  FORMCHECK_PYTHON=str(py)), ok=False)


@needs_bash
def test_install_upgrade_and_uninstall_in_a_temporary_root(tmp_path, wheels):
    root = tmp_path / "root"
    root.mkdir()
    etc_config = root / "etc/formcheck/formcheck.toml"

    # -- first install -----------------------------------------------------------------
    r = run_install("--root", str(root), "--source", str(wheels["old"]))
    venv = root / "opt/formcheck/venv"
    assert (venv / "bin/formcheck-station").is_file() and (venv / "bin/formcheck-doctor").is_file()
    assert re.search(r"(?m)^include-system-site-packages = true$", (venv / "pyvenv.cfg").read_text())
    assert installed_version(root) == "0.1.0"
    shipped = (venv_site_packages(root) / "formcheck/device/app/formcheck.toml").read_text()
    assert etc_config.read_text() == shipped == PACKAGED_CONFIG.read_text()
    assert stat.S_IMODE(etc_config.stat().st_mode) == 0o640  # may hold an MQTT password
    assert stat.S_IMODE(etc_config.parent.stat().st_mode) == 0o775  # Save's temporary file + rename
    unit = root / "etc/systemd/system/formcheck.service"
    assert unit.read_text() == UNIT.read_text()
    for d in ("var/lib/formcheck/models", "var/cache/formcheck"):
        assert (root / d).is_dir()
    if shutil.which("systemctl"):  # enabled offline with systemctl --root
        wants = root / "etc/systemd/system/multi-user.target.wants/formcheck.service"
        assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/formcheck.service"
    assert "installed the default config" in r.stdout
    # Nothing outside the root was touched: no account or service-manager calls were made.
    assert "skipped under --root: system user formcheck" in r.stdout

    # -- the user edits the config; an upgrade ships a changed default ------------------
    lend_test_packages(root)
    edited = etc_config.read_text().replace('level = "info"', 'level = "debug"')
    assert edited != etc_config.read_text()
    etc_config.write_text(edited)
    r = run_install("--root", str(root), "--source", str(wheels["new"]))
    assert installed_version(root) == "0.1.1"
    assert "reusing the venv" in r.stdout
    assert etc_config.read_text() == edited, "an upgrade overwrote the user's config"
    new_default = (venv_site_packages(root) / "formcheck/device/app/formcheck.toml").read_text()
    assert "new in 0.1.1" in new_default
    assert (root / "etc/formcheck/formcheck.toml.new").read_text() == new_default
    assert "kept your edited config" in r.stdout and "formcheck.toml.new" in r.stdout
    # The installed station accepts the config it finds (the edited one) and the new default.
    assert "does not pass --check-config" not in r.stderr, r.stdout + r.stderr
    assert "configuration OK" in r.stdout + r.stderr

    # -- re-running the same version changes nothing --------------------------------------
    before = {p: p.read_bytes() for p in (root / "etc").rglob("*") if p.is_file()}
    run_install("--root", str(root), "--source", str(wheels["new"]))
    after = {p: p.read_bytes() for p in (root / "etc").rglob("*") if p.is_file()}
    assert after == before

    # -- uninstall keeps config and state; purge removes them -----------------------------
    (root / "var/lib/formcheck/models/mine.tflite").write_bytes(b"model")
    r = run_install("--root", str(root), "--uninstall")
    assert not (root / "opt/formcheck").exists() and not unit.exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/formcheck.service").is_symlink()
    assert etc_config.read_text() == edited
    assert (root / "var/lib/formcheck/models/mine.tflite").read_bytes() == b"model"
    assert "kept your config" in r.stdout
    run_install("--root", str(root), "--uninstall", "--purge")
    for d in ("etc/formcheck", "var/lib/formcheck", "var/cache/formcheck", "opt/formcheck"):
        assert not (root / d).exists(), d


@needs_bash
def test_upgrade_replaces_an_unedited_config_and_restarts_a_running_service(tmp_path, wheels):
    """With the system commands replaced by fakes, the installer's calls on a running system:
    groups and user, daemon-reload/enable/start on a first install, restart on an upgrade."""
    root = tmp_path / "root"
    root.mkdir()
    log = tmp_path / "calls.log"
    active = tmp_path / "active"  # exists = the fake service is running
    systemctl = write_fake(tmp_path / "systemctl", f"""
echo "systemctl $*" >> "{log}"
case "$*" in *is-active*) [ -e "{active}" ] ;; *start*) : > "{active}" ;; esac
""")
    fakes = {f"FORMCHECK_{name.upper()}": str(write_fake(tmp_path / name, f'echo "{name} $*" >> "{log}"\n'))
             for name in ("useradd", "usermod", "groupadd", "userdel")}
    env = installer_env(FORMCHECK_SYSTEMCTL=str(systemctl), **fakes)

    run_install("--root", str(root), "--source", str(wheels["old"]), env=env)
    calls = log.read_text().splitlines()
    assert "usermod --append --groups video,gpio,i2c,audio formcheck" in calls
    if subprocess.run(["getent", "passwd", "formcheck"], capture_output=True).returncode != 0:
        assert any(c.startswith("useradd --system") and c.endswith(" formcheck") for c in calls)
    i = calls.index("systemctl daemon-reload")
    assert calls[i + 1:i + 2] == ["systemctl enable formcheck.service"]
    assert "systemctl start formcheck.service" in calls and "systemctl restart formcheck.service" not in calls

    config = root / "etc/formcheck/formcheck.toml"
    old_default = config.read_text()
    log.write_text("")
    r = run_install("--root", str(root), "--source", str(wheels["new"]), env=env)
    assert "new in 0.1.1" in config.read_text() and config.read_text() != old_default
    assert not (root / "etc/formcheck/formcheck.toml.new").exists()
    assert "updated the unedited config" in r.stdout
    assert "systemctl restart formcheck.service" in log.read_text().splitlines()

    log.write_text("")
    run_install("--root", str(root), "--uninstall", "--purge", env=env)
    calls = log.read_text().splitlines()
    assert "systemctl disable --now formcheck.service" in calls and "userdel formcheck" in calls


@needs_bash
def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    r = run_install("--root", str(root), "--dry-run", "--source", "0.2.0")
    assert list(root.iterdir()) == []
    out = r.stdout
    assert "would run:" in out and "-m venv --system-site-packages" in out
    assert "formcheck\\[device\\]==0.2.0" in out or "formcheck[device]==0.2.0" in out
    assert f"systemctl --root={root}" in out and "enable formcheck.service" in out


@needs_bash
@pytest.mark.parametrize("machine", ["armv7l", "armv6l", "armhf"])
def test_installer_refuses_a_32bit_system_and_says_what_to_do(tmp_path, machine):
    root = tmp_path / "root"
    root.mkdir()
    r = run_install("--root", str(root), env=installer_env(FORMCHECK_UNAME_M=machine), ok=False)
    assert r.returncode != 0
    msg = r.stderr
    assert f"32-bit system ({machine})" in msg
    assert "LiteRT" in msg and "64-bit Raspberry Pi OS" in msg and "Trixie" in msg
    assert list(root.iterdir()) == []


@needs_bash
def test_installer_refuses_a_32bit_userland_on_a_64bit_kernel(tmp_path):
    # 32-bit Raspberry Pi OS on a Pi 4 boots a 64-bit kernel: uname says aarch64, Python is 32-bit.
    r = install_with_python(tmp_path, "3 11 32")
    assert r.returncode != 0 and "32-bit" in r.stderr and "userland" in r.stderr
    assert "64-bit Raspberry Pi OS" in r.stderr


@needs_bash
def test_installer_refuses_python_older_than_311(tmp_path):
    r = install_with_python(tmp_path, "3 9 64")
    assert r.returncode != 0 and "Python 3.11 or newer" in r.stderr and "3.9" in r.stderr


@needs_bash
def test_installer_accepts_python_313_of_trixie(tmp_path):
    # Raspberry Pi OS Trixie ships 3.13: the device extra needs no mediapipe, so it installs there.
    # (The fake interpreter cannot create a venv: the run stops after the preflight.)
    r = install_with_python(tmp_path, "3 13 64")
    assert "64-bit aarch64, Python 3.13" in r.stdout
    assert "too new" not in r.stderr and "newer than" not in r.stderr


@needs_bash
def test_installer_warns_on_an_untested_newer_python(tmp_path):
    r = install_with_python(tmp_path, "3 14 64")
    assert "Python 3.14 is newer than formcheck has been checked on" in r.stderr
    assert "64-bit aarch64, Python 3.14" in r.stdout


@needs_bash
def test_installer_rejects_bad_options(tmp_path):
    for args, expected in [(["--bogus"], "unknown option '--bogus'"),
                           (["--purge"], "--purge only goes with --uninstall"),
                           (["--source"], "--source needs a value")]:
        r = run_install("--root", str(tmp_path), *args, ok=False)
        assert r.returncode != 0 and expected in r.stderr, (args, r.stderr)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_installer_is_shellcheck_clean():
    r = subprocess.run(["shellcheck", "-x", str(INSTALL)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout


# ---- can a Raspberry Pi install it? ----------------------------------------------------------

# 64-bit Raspberry Pi OS Bookworm: Linux aarch64, glibc 2.36, CPython 3.11. pip does not expand
# PEP 600 tags by itself, so every manylinux_2_N from 2.36 down is listed (plus the aliases).
PI_PLATFORMS = [f"manylinux_2_{n}_aarch64" for n in range(36, 16, -1)] + ["manylinux2014_aarch64",
                                                                          "linux_aarch64"]


def index_reachable(timeout: float = 5.0) -> bool:
    """One real HTTPS request to the index pip will use (a TCP connect alone can succeed
    against a proxy or firewall that then fails every TLS handshake)."""
    url = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    u = urlparse(url)
    if u.scheme == "file":
        return Path(u.path).exists()
    try:
        with urllib.request.urlopen(f"{url}/pip/", timeout=timeout) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def device_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["device"])
    assert not any(r.replace(" ", "").startswith("formcheck") for r in reqs), "self-reference in device"
    return reqs


@pytest.mark.network
@pytest.mark.parametrize("py", ["3.11", "3.12", "3.13"])  # Bookworm 3.11, Trixie 3.13
def test_device_extra_resolves_to_wheels_for_64bit_raspberry_pi_os(tmp_path, record_property, py):
    if not index_reachable():
        pytest.skip("the package index is not reachable")
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--target", str(tmp_path / "target"), "--report", str(report),
           "--only-binary=:all:", "--implementation", "cp", "--python-version", py,
           "--abi", f"cp{py.replace('.', '')}"]
    for p in PI_PLATFORMS:
        cmd += ["--platform", p]
    r = subprocess.run(cmd + device_requirements(), capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        missing = re.findall(r"No matching distribution found for (\S+)", r.stderr)
        if re.search(r"Retrying \(Retry\(|(?i:connection (error|broken|refused)|timed out|temporary failure)",
                     r.stderr):
            pytest.skip(f"the package index failed mid-resolve: {r.stderr[-300:]}")
        pytest.fail(f"no aarch64/cp{py} wheel for: {', '.join(missing) or '(see pip output)'}\n{r.stderr[-3000:]}")
    installs = json.loads(report.read_text())["install"]
    picked = {re.sub(r"[-_.]+", "-", i["metadata"]["name"]).lower(): i["metadata"]["version"] for i in installs}
    files = [i["download_info"]["url"].rsplit("/", 1)[-1] for i in installs]
    record_property("aarch64_resolution", json.dumps(picked, sort_keys=True))
    print(f"\naarch64/cp{py} resolution:", ", ".join(f"{k}=={v}" for k, v in sorted(picked.items())))
    assert all(f.endswith(".whl") for f in files), files
    for name in ("ai-edge-litert", "numpy", "opencv-python-headless", "gpiozero", "luma-oled", "paho-mqtt"):
        assert name in picked, f"{name} missing from {sorted(picked)}"
    for heavy in ("tensorflow", "tensorflow-cpu", "mediapipe", "jax", "jaxlib", "matplotlib",
                  "opencv-contrib-python", "opencv-python"):
        assert heavy not in picked, f"the device extra must never pull {heavy}"
