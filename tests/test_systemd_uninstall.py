"""``systemd/install.sh --uninstall`` where no service manager runs (an image build, a chroot, a
``--root``): no enable link and no group that only formcheck used is left behind. Run in
temporary roots only, with the account tools replaced by fakes that log their calls."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "systemd" / "install.sh"
UNIT = REPO / "systemd" / "formcheck.service"
WANTS = "etc/systemd/system/multi-user.target.wants/formcheck.service"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def fake(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def installed_root(tmp_path: Path, groups: list[str], udev_rule: str = "") -> Path:
    """A root as an install left it: the unit, its enable link, the accounts, the venv dir."""
    root = tmp_path / "root"
    (root / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system/formcheck.service")
    os.symlink("/etc/systemd/system/formcheck.service", root / WANTS)  # what `systemctl enable` makes
    (root / "opt/formcheck/venv").mkdir(parents=True)
    (root / "etc/formcheck").mkdir()
    (root / "etc/group").write_text("\n".join(groups) + "\n")
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\n"
                                     "formcheck:x:990:990::/var/lib/formcheck:/usr/sbin/nologin\n"
                                     "pi:x:1000:1000::/home/pi:/bin/bash\n")
    if udev_rule:
        (root / "usr/lib/udev/rules.d").mkdir(parents=True)
        (root / "usr/lib/udev/rules.d/60-devices.rules").write_text(udev_rule)
    return root


def uninstall(tmp_path: Path, root: Path, *extra: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """install.sh --uninstall with a systemctl that cannot disable (no service manager to talk to)
    first on PATH, and logging fakes for the account tools."""
    log = tmp_path / "calls.log"
    log.write_text("")
    bin_dir = tmp_path / "bin"
    fake(bin_dir / "systemctl", f'echo "systemctl $*" >> "{log}"\n'
         'echo "System has not been booted with systemd as init system (PID 1). Can\'t operate." >&2\n'
         "exit 1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORMCHECK_")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    for name in ("userdel", "groupdel"):
        env[f"FORMCHECK_{name.upper()}"] = str(fake(tmp_path / "fakes" / name, f'echo "{name} $*" >> "{log}"\n'))
    r = subprocess.run(["bash", str(INSTALL), "--root", str(root), "--uninstall", *extra],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r, log.read_text().splitlines()


def test_uninstall_without_a_service_manager_removes_the_enable_link(tmp_path):
    root = installed_root(tmp_path, ["video:x:44:formcheck", "formcheck:x:990:"])
    r, calls = uninstall(tmp_path, root)
    assert any(c.startswith("systemctl") and "disable formcheck.service" in c for c in calls)
    assert not (root / WANTS).is_symlink(), r.stdout + r.stderr  # not even a dangling one
    assert not (root / "etc/systemd/system/formcheck.service").exists()
    assert not (root / "opt/formcheck").exists()
    assert (root / "etc/formcheck").is_dir()  # config kept without --purge
    assert "groupdel" not in " ".join(calls)  # the user stays, so do its groups


def test_purge_removes_the_groups_only_formcheck_used_and_keeps_the_systems(tmp_path):
    groups = ["video:x:44:formcheck",  # a udev rule uses it: the system's
              "gpio:x:997:formcheck",  # created by the install on a box that is not a Pi
              "i2c:x:998:formcheck,pi",  # a person is in it
              "formcheck:x:990:"]
    root = installed_root(tmp_path, groups, udev_rule='SUBSYSTEM=="video4linux", GROUP="video"\n')
    r, calls = uninstall(tmp_path, root, "--purge")
    assert not (root / WANTS).is_symlink()
    assert "userdel formcheck" in calls
    assert [c for c in calls if c.startswith("groupdel")] == ["groupdel gpio"], calls
    assert "kept group video (a udev rule uses it)" in r.stdout
    assert "kept group i2c (members: pi)" in r.stdout
    assert not (root / "etc/formcheck").exists()


def test_purge_keeps_a_pis_gpio_group(tmp_path):
    """On Raspberry Pi OS gpio and i2c come with the system (its udev rules use them)."""
    root = installed_root(tmp_path, ["video:x:44:formcheck", "gpio:x:997:formcheck", "i2c:x:998:formcheck",
                                     "formcheck:x:990:"],
                          udev_rule='SUBSYSTEM=="gpio", GROUP="gpio", MODE="0660"\n'
                                    'SUBSYSTEM=="i2c-dev", GROUP="i2c", MODE="0660"\n'
                                    'SUBSYSTEM=="video4linux", GROUP="video"\n')
    _, calls = uninstall(tmp_path, root, "--purge")
    assert not [c for c in calls if c.startswith("groupdel")], calls


def test_dry_run_uninstall_changes_nothing(tmp_path):
    root = installed_root(tmp_path, ["gpio:x:997:formcheck", "formcheck:x:990:"])
    r, calls = uninstall(tmp_path, root, "--purge", "--dry-run")
    assert (root / WANTS).is_symlink() and (root / "opt/formcheck").is_dir()
    assert calls == [] and "would run: rm -f" in r.stdout
