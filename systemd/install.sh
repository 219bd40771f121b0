#!/usr/bin/env bash
# Install, upgrade or remove the formcheck station on a Raspberry Pi (64-bit Raspberry Pi OS
# Trixie or Bookworm) or any systemd Linux box.  Re-running it is how you upgrade: the venv is reused,
# the package reinstalled, the unit refreshed, and your edited config left alone.
#
#   sudo systemd/install.sh                       # install/upgrade from this checkout
#   sudo systemd/install.sh --source 0.2.0        # a released version from the package index
#   sudo systemd/install.sh --uninstall           # remove code and unit, keep config and state
#   sudo systemd/install.sh --uninstall --purge   # ...and config, state, cache and the user
#   systemd/install.sh --root /tmp/fc --dry-run   # print what would be done
#
# Run with --help for every option.  See docs/raspberry-pi.md for the whole setup.
set -euo pipefail

PROG=${0##*/}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

# Fixed layout (DESIGN.md "Where things live on a Pi"); --root prefixes all of it.
SERVICE_USER=formcheck
DEVICE_GROUPS=(video gpio i2c audio)
UNIT_NAME=formcheck.service
OPT_DIR=/opt/formcheck
VENV_DIR=$OPT_DIR/venv
ETC_DIR=/etc/formcheck
CONFIG=$ETC_DIR/formcheck.toml
STATE_DIR=/var/lib/formcheck
CACHE_DIR=/var/cache/formcheck
UNIT_DIR=/etc/systemd/system
# The default config as shipped by the last install: tells "edited by you" from "old default".
DIST_CONFIG=$OPT_DIR/share/formcheck.toml.dist
MIN_PY_MINOR=11
MAX_PY_MINOR=13 # the newest Python the device extra's wheels (ai-edge-litert) are checked on

# Overridable commands and facts (tests, unusual systems).
PY=${FORMCHECK_PYTHON:-/usr/bin/python3}
UNAME_M=${FORMCHECK_UNAME_M:-$(uname -m)}
read -r -a PIP_EXTRA <<<"${FORMCHECK_PIP_ARGS:-}"

ROOT=""
SOURCE=""
DRY_RUN=0
UNINSTALL=0
PURGE=0
USE_APT=1
START=1

usage() {
    cat <<EOF
Usage: $PROG [options]

Installs the formcheck station: system user '$SERVICE_USER' (groups ${DEVICE_GROUPS[*]}),
a venv at $VENV_DIR (--system-site-packages, so apt's picamera2 and lgpio are visible),
the package with its 'device' extra, the commented default config at $CONFIG
(never overwriting your edits: a newer default goes to formcheck.toml.new), and the
systemd unit $UNIT_NAME (enabled, and started or restarted).

Options:
  --source SRC    what to install: a directory or a wheel/sdist file (a checkout of formcheck),
                  a version (e.g. 0.2.0, from the package index), or any pip requirement.
                  Default: the checkout this script is in.
  --uninstall     stop and remove the unit, the venv and $OPT_DIR; keep config and state.
  --purge         with --uninstall: also remove $ETC_DIR, $STATE_DIR, $CACHE_DIR, the user and
                  the device groups nothing else uses (no other member, no udev rule).
  --root DIR      install into DIR instead of / (every path prefixed; for tests and images).
                  No accounts, apt or running services are touched; the unit is enabled
                  with 'systemctl --root'.
  --dry-run       print what would be done, change nothing.
  --no-apt        do not apt-get install python3-picamera2, python3-lgpio, python3-venv, i2c-tools.
  --no-start      install and enable, but do not start or restart the service.
  -h, --help      this text.

Environment (advanced): FORMCHECK_PYTHON (interpreter for the venv, default /usr/bin/python3),
FORMCHECK_PIP_ARGS (extra pip arguments, e.g. an --index-url), FORMCHECK_SYSTEMCTL,
FORMCHECK_USERADD, FORMCHECK_USERMOD, FORMCHECK_GROUPADD, FORMCHECK_USERDEL, FORMCHECK_GROUPDEL (replace those
commands; with --root they are skipped unless replaced), FORMCHECK_UNAME_M (machine name).
EOF
}

say() { printf '%s: %s%s\n' "$PROG" "$( ((DRY_RUN)) && echo '[dry run] ')" "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

# Run a command that changes the system; in --dry-run only print it.
run() {
    if ((DRY_RUN)); then
        printf 'would run:'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

# System-account and service-manager commands: replaceable through FORMCHECK_<NAME>; with
# --root they are skipped unless replaced, because they act on the running system.
syscmd() {
    local name=$1
    shift
    local var="FORMCHECK_${name^^}"
    local cmd=${!var:-}
    if [[ -z $cmd ]]; then
        if [[ -n $ROOT ]]; then
            say "skipped under --root: $name $*"
            return 0
        fi
        cmd=$name
    fi
    run $cmd "$@"
}

while (($#)); do
    case $1 in
    --source)
        [[ $# -ge 2 && -n $2 ]] || die "--source needs a value (a path, a version or a requirement)"
        SOURCE=$2
        shift 2
        ;;
    --source=*) SOURCE=${1#*=}; shift ;;
    --root)
        [[ $# -ge 2 && -n $2 ]] || die "--root needs a directory"
        ROOT=$2
        shift 2
        ;;
    --root=*) ROOT=${1#*=}; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    --no-apt) USE_APT=0; shift ;;
    --no-start) START=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done

((PURGE && !UNINSTALL)) && die "--purge only goes with --uninstall"
if [[ -n $ROOT ]]; then
    [[ -d $ROOT ]] || ((DRY_RUN)) || die "--root $ROOT: no such directory"
    ROOT=$(cd "$ROOT" 2>/dev/null && pwd || echo "$ROOT")
    if [[ $ROOT == / ]]; then ROOT=""; fi
fi
if [[ -z $ROOT ]] && ((!DRY_RUN)) && ((EUID != 0)); then
    die "this changes the system (user, /opt, /etc, systemd): run it with sudo, or use --root DIR / --dry-run"
fi

R() { printf '%s%s' "$ROOT" "$1"; } # a path inside the target root

# True when a service manager is running here (not in a chroot, container build or --root).
systemd_running() { [[ -z $ROOT && -d /run/systemd/system ]] || [[ -n ${FORMCHECK_SYSTEMCTL:-} ]]; }

# ---------------------------------------------------------------------------------------
# uninstall
# ---------------------------------------------------------------------------------------
# Members of group $1 in the target's /etc/group and /etc/passwd (supplementary and primary),
# one per line, the service user left out.
group_users() {
    local gid
    gid=$(awk -F: -v g="$1" '$1 == g { print $3 }' "$(R /etc/group)" 2>/dev/null)
    {
        awk -F: -v g="$1" '$1 == g { gsub(",", "\n", $4); print $4 }' "$(R /etc/group)" 2>/dev/null
        [[ -n $gid ]] && awk -F: -v gid="$gid" '$4 == gid { print $1 }' "$(R /etc/passwd)" 2>/dev/null
    } | grep -vx -e "$SERVICE_USER" -e '' || true
}

# True when a udev rule of the target gives devices to group $1: the system's own group.
udev_names_group() {
    local d
    for d in /etc/udev/rules.d /lib/udev/rules.d /usr/lib/udev/rules.d; do
        grep -qsE "GROUP[:+]?=\"$1\"" "$(R "$d")"/*.rules && return 0
    done
    return 1
}

if ((UNINSTALL)); then
    if systemd_running; then
        syscmd systemctl disable --now "$UNIT_NAME" || warn "could not stop/disable $UNIT_NAME (not installed?)"
    elif command -v systemctl >/dev/null && [[ -e $(R "$UNIT_DIR/$UNIT_NAME") ]]; then
        # No running service manager (--root, image build, chroot): disabling works offline.
        root_opt=()
        [[ -n $ROOT ]] && root_opt=(--root="$ROOT")
        run systemctl "${root_opt[@]}" --quiet disable "$UNIT_NAME" || warn "systemctl disable failed; removing its links by hand"
    fi
    # Whatever systemctl did or could not do, no enable link may outlive the unit.
    while IFS= read -r -d '' link; do
        run rm -f "$link"
        say "removed $link"
    done < <(find "$(R "$UNIT_DIR")" -mindepth 2 -maxdepth 2 \( -path '*.wants/*' -o -path '*.requires/*' \) \
        -name "$UNIT_NAME" -print0 2>/dev/null)
    if [[ -e $(R "$UNIT_DIR/$UNIT_NAME") ]]; then
        run rm -f "$(R "$UNIT_DIR/$UNIT_NAME")"
        say "removed $(R "$UNIT_DIR/$UNIT_NAME")"
    fi
    if systemd_running; then
        syscmd systemctl daemon-reload || true
        syscmd systemctl reset-failed "$UNIT_NAME" 2>/dev/null || true
    fi
    if [[ -e $(R "$OPT_DIR") ]]; then
        run rm -rf "$(R "$OPT_DIR")"
        say "removed $(R "$OPT_DIR") (the venv and the installed package)"
    fi
    if ((PURGE)); then
        for d in "$ETC_DIR" "$STATE_DIR" "$CACHE_DIR"; do
            if [[ -e $(R "$d") ]]; then
                run rm -rf "$(R "$d")"
                say "purged $(R "$d")"
            fi
        done
        if [[ -n ${FORMCHECK_USERDEL:-} ]] || { [[ -z $ROOT ]] && getent passwd "$SERVICE_USER" >/dev/null; }; then
            syscmd userdel "$SERVICE_USER" || warn "could not remove user $SERVICE_USER"
        fi
        # A device group the install had to create (e.g. gpio on a box that is not a Pi) goes
        # too: one with no other member that no udev rule uses. The system's own (video, a
        # Pi's gpio and i2c, named by udev rules) and any a person was added to stay.
        for g in "${DEVICE_GROUPS[@]}"; do
            grep -q "^$g:" "$(R /etc/group)" 2>/dev/null || continue
            if udev_names_group "$g"; then
                say "kept group $g (a udev rule uses it)"
            elif [[ -n $(group_users "$g") ]]; then
                say "kept group $g (members: $(group_users "$g" | paste -sd, -))"
            elif [[ -z $ROOT || -n ${FORMCHECK_GROUPDEL:-} ]]; then
                if syscmd groupdel "$g"; then
                    say "removed group $g (only formcheck used it)"
                else
                    warn "could not remove group $g"
                fi
            else
                say "skipped under --root: groupdel $g"
            fi
        done
        say "formcheck purged."
    else
        say "formcheck removed; kept your config $(R "$ETC_DIR") and state $(R "$STATE_DIR")" \
            "(--uninstall --purge removes them and the '$SERVICE_USER' user)."
    fi
    exit 0
fi

# ---------------------------------------------------------------------------------------
# preflight: 64-bit OS, Python 3.11+
# ---------------------------------------------------------------------------------------
explain_32bit() {
    die "$1
formcheck needs a 64-bit OS: the LiteRT interpreter that runs BlazePose publishes Linux wheels
for aarch64 and x86_64 only, never for 32-bit ARM (armv7l/armhf, armv6l), so pip cannot
install it here.  On a Raspberry Pi 3, 4, 5 or Zero 2 W: flash '64-bit Raspberry Pi OS' (Trixie;
or Bookworm, listed as Raspberry Pi OS (Legacy, 64-bit) in Raspberry Pi Imager) and run this
installer again.  Pi 1, Pi 2 v1.1 and Pi Zero/Zero W have 32-bit CPUs and cannot run formcheck."
}

case $UNAME_M in
aarch64 | arm64 | x86_64 | amd64) ;;
armv6* | armv7* | armv8l | armhf | arm | i?86)
    explain_32bit "this is a 32-bit system ($UNAME_M)."
    ;;
*) warn "untested machine type '$UNAME_M'; continuing (wheels may be missing)" ;;
esac

[[ -x $PY ]] || command -v "$PY" >/dev/null ||
    die "no Python at $PY: install it (sudo apt install python3 python3-venv) or set FORMCHECK_PYTHON"
# (-I everywhere: the current directory, e.g. a checkout with formcheck.egg-info, must not
# shadow what is installed.)  One call for version and pointer size: a 64-bit kernel can run a 32-bit userland
# (32-bit Raspberry Pi OS on a Pi 4 boots a 64-bit kernel), and only the userland matters.
read -r PY_MAJOR PY_MINOR PY_BITS < <("$PY" -I -c 'import struct, sys; print(sys.version_info[0], sys.version_info[1], struct.calcsize("P") * 8)') ||
    die "could not run $PY"
if [[ $PY_BITS != 64 ]]; then
    explain_32bit "the kernel is $UNAME_M but the OS (userland, $PY) is ${PY_BITS}-bit."
fi
if ((PY_MAJOR != 3 || PY_MINOR < MIN_PY_MINOR)); then
    die "Python 3.$MIN_PY_MINOR or newer is needed; $PY is $PY_MAJOR.$PY_MINOR.
Raspberry Pi OS Trixie ships 3.13 and Bookworm 3.11; on Bullseye (3.9) flash Trixie (64-bit) instead."
fi
if ((PY_MINOR > MAX_PY_MINOR)); then
    # picamera2/libcamera come from apt, built for the system Python, so the venv must use it.
    warn "Python $PY_MAJOR.$PY_MINOR is newer than formcheck has been checked on (3.$MIN_PY_MINOR-3.$MAX_PY_MINOR);
continuing: if pip finds no wheel for a dependency (ai-edge-litert, opencv-python-headless), that is why."
fi
say "64-bit $UNAME_M, Python $PY_MAJOR.$PY_MINOR ($PY)"

# ---------------------------------------------------------------------------------------
# apt: picamera2 (Pi camera), lgpio (gpiozero's pin factory), venv, i2c-tools (i2cdetect)
# ---------------------------------------------------------------------------------------
if ((USE_APT)) && [[ -z $ROOT ]] && command -v apt-get >/dev/null; then
    # OpenCV is the headless wheel (no libGL/GTK), so no graphics libraries are needed.
    wanted=(python3-venv i2c-tools python3-lgpio python3-picamera2)
    have=()
    for p in "${wanted[@]}"; do
        if apt-cache show "$p" >/dev/null 2>&1; then
            have+=("$p")
        else
            warn "apt has no $p here (it comes from the Raspberry Pi OS archive); skipping it"
        fi
    done
    if ((${#have[@]})); then
        say "apt-get install ${have[*]}"
        # --no-install-recommends: picamera2 otherwise pulls in Qt/OpenGL for previews.
        apt_install() { run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${have[@]}"; }
        if ! apt_install; then
            # A fresh image often has stale package lists: refresh once and retry.
            if ! { run apt-get update && apt_install; }; then
                die "apt-get install ${have[*]} failed (see above; or skip it with --no-apt)"
            fi
        fi
    fi
fi

# ---------------------------------------------------------------------------------------
# user and groups
# ---------------------------------------------------------------------------------------
if [[ -z $ROOT ]] || [[ -n ${FORMCHECK_USERADD:-}${FORMCHECK_GROUPADD:-} ]]; then
    for g in "${DEVICE_GROUPS[@]}"; do
        # SupplementaryGroups= fails the unit (216/GROUP) when a group is missing, e.g. gpio
        # on a non-Raspberry-Pi OS: create it (udev rules decide what it can open).
        if ! getent group "$g" >/dev/null; then
            syscmd groupadd --system "$g"
            say "created group $g"
        fi
    done
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        nologin=$(command -v nologin || echo /usr/sbin/nologin)
        # A group left behind by an earlier install is reused (useradd --user-group would fail).
        group_opt=(--user-group)
        if getent group "$SERVICE_USER" >/dev/null; then group_opt=(--gid "$SERVICE_USER"); fi
        syscmd useradd --system "${group_opt[@]}" --home-dir "$STATE_DIR" --no-create-home \
            --shell "$nologin" --comment "formcheck station" "$SERVICE_USER"
        say "created system user $SERVICE_USER"
    fi
    syscmd usermod --append --groups "$(IFS=,; echo "${DEVICE_GROUPS[*]}")" "$SERVICE_USER"
else
    say "skipped under --root: system user $SERVICE_USER and groups ${DEVICE_GROUPS[*]}"
fi
owner_known() { [[ -z $ROOT ]] && getent passwd "$SERVICE_USER" >/dev/null; }

# ---------------------------------------------------------------------------------------
# directories
# ---------------------------------------------------------------------------------------
run install -d -m 0755 "$(R "$OPT_DIR")" "$(R "$OPT_DIR/share")" "$(R "$UNIT_DIR")"
# group formcheck may write the config folder: the setup page's Save replaces formcheck.toml
# (ReadWritePaths=/etc/formcheck in the unit)
run install -d -m 0775 "$(R "$ETC_DIR")"
run install -d -m 0750 "$(R "$STATE_DIR")" "$(R "$STATE_DIR/models")" "$(R "$CACHE_DIR")"
if owner_known; then
    run chgrp "$SERVICE_USER" "$(R "$ETC_DIR")"
    run chown "$SERVICE_USER:$SERVICE_USER" "$(R "$STATE_DIR")" "$(R "$STATE_DIR/models")" "$(R "$CACHE_DIR")"
fi

# ---------------------------------------------------------------------------------------
# venv and package
# ---------------------------------------------------------------------------------------
venv=$(R "$VENV_DIR")
venv_ok() {
    [[ -x $venv/bin/python ]] || return 1
    grep -qi '^include-system-site-packages *= *true' "$venv/pyvenv.cfg" 2>/dev/null || return 1
    # A Python upgrade of the OS (3.11 -> 3.13) leaves a venv pointing at a gone interpreter.
    local v
    v=$("$venv/bin/python" -I -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 1
    [[ $v == "$PY_MAJOR.$PY_MINOR" ]]
}
if venv_ok; then
    say "reusing the venv at $venv"
else
    if [[ -e $venv ]]; then
        say "recreating the venv at $venv (wrong Python or no --system-site-packages)"
        run rm -rf "$venv"
    fi
    say "creating the venv at $venv (--system-site-packages: apt's picamera2 and lgpio stay visible)"
    run "$PY" -m venv --system-site-packages "$venv" ||
        die "could not create the venv (Debian/Raspberry Pi OS: sudo apt install python3-venv)"
fi

local_source=""
if [[ -z $SOURCE ]]; then
    [[ -f $REPO_DIR/pyproject.toml ]] ||
        die "no --source given and $REPO_DIR is not a formcheck checkout: pass --source (a path or a version)"
    local_source=$REPO_DIR
    requirement="${REPO_DIR}[device]"
elif [[ -d $SOURCE || -f $SOURCE ]]; then
    local_source=$(cd "$(dirname "$SOURCE")" && pwd)/$(basename "$SOURCE")
    requirement="${local_source}[device]"
elif [[ $SOURCE =~ ^[0-9]+(\.[0-9]+)*([abrc.]+[0-9]+|\.post[0-9]+|\.dev[0-9]+)*$ ]]; then
    requirement="formcheck[device]==$SOURCE"
else
    requirement=$SOURCE # any pip requirement, e.g. "formcheck[device]>=0.2" or a URL
fi

# pip builds a source tree in place (build/, *.egg-info as root inside your checkout, and
# failing on a read-only one): build from a clean temporary copy instead.
if [[ -n $local_source && -d $local_source ]]; then
    tmp_src=$(mktemp -d "${TMPDIR:-/tmp}/formcheck-src.XXXXXX")
    trap 'rm -rf "$tmp_src"' EXIT
    tar -C "$local_source" -cf - --exclude=./.git --exclude=./build --exclude=./dist \
        --exclude='*.egg-info' --exclude=__pycache__ --exclude=./.venv --exclude=./venv \
        --exclude=./runs --exclude=./out --exclude=./data --exclude=.pytest_cache \
        --exclude=.ruff_cache . | tar -C "$tmp_src" -xf -
    say "building from a copy of $local_source"
    local_source=$tmp_src
    requirement="${tmp_src}[device]"
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check)
say "pip install $requirement"
run "${pip[@]}" install --upgrade "${PIP_EXTRA[@]}" "$requirement" ||
    die "pip install failed (see above).  No wheel for a dependency usually means a 32-bit OS or
an unsupported Python; a network error: check the connection and run this again."
if [[ -n $local_source ]]; then
    # The same version number from a changed checkout is still an upgrade: reinstall the
    # package itself (not its dependencies, which would take minutes on a Pi).
    run "${pip[@]}" install --force-reinstall --no-deps "${PIP_EXTRA[@]}" "$local_source"
fi
if ((!DRY_RUN)); then
    version=$("$venv/bin/python" -I -c 'from importlib.metadata import version; print(version("formcheck"))') ||
        die "formcheck is not importable from $venv after pip install"
    say "installed formcheck $version"
fi

# ---------------------------------------------------------------------------------------
# config: never overwrite the user's edits
# ---------------------------------------------------------------------------------------
packaged_config() {
    # The default shipped in the installed package; else the checkout's copy.
    local p
    p=$("$venv/bin/python" -I - <<'EOF' 2>/dev/null
import importlib.util, os
spec = importlib.util.find_spec("formcheck.device.app")
for d in (spec.submodule_search_locations or []) if spec else []:
    f = os.path.join(d, "formcheck.toml")
    if os.path.isfile(f):
        print(f)
        break
EOF
) || true
    if [[ -n $p && -f $p ]]; then
        echo "$p"
    elif [[ -f $REPO_DIR/device/app/formcheck.toml ]]; then
        echo "$REPO_DIR/device/app/formcheck.toml"
    fi
}
new_default=$(packaged_config)
config=$(R "$CONFIG")
dist=$(R "$DIST_CONFIG")
if ((DRY_RUN)) && [[ -z $new_default ]]; then
    say "would install the packaged default config at $config (unless you edited it)"
elif [[ -z $new_default ]]; then
    die "the installed package has no formcheck/device/app/formcheck.toml"
else
    install_config() {
        run install -m 0640 "$new_default" "$1"
        # root-owned, group formcheck: the service reads it, other users cannot (MQTT password).
        if owner_known; then run chgrp "$SERVICE_USER" "$1"; fi
    }
    if [[ ! -e $config ]]; then
        install_config "$config"
        say "installed the default config at $config"
    elif cmp -s "$config" "$new_default"; then
        say "config $config is the current default"
        if [[ -e $config.new ]]; then run rm -f "$config.new"; fi
    elif [[ -f $dist ]] && cmp -s "$config" "$dist"; then
        # Untouched previous default: take the new one, as a package manager would.
        install_config "$config"
        say "updated the unedited config $config to this version's default"
    else
        install_config "$config.new"
        say "kept your edited config $config; this version's default is at $config.new" \
            "(compare: diff $config $config.new)"
    fi
    run install -m 0644 "$new_default" "$dist"
fi

# ---------------------------------------------------------------------------------------
# systemd unit
# ---------------------------------------------------------------------------------------
unit_src=$SCRIPT_DIR/$UNIT_NAME
[[ -f $unit_src ]] || die "missing $unit_src (run this script from a formcheck checkout)"
unit_dst=$(R "$UNIT_DIR/$UNIT_NAME")
unit_changed=1
if [[ -f $unit_dst ]] && cmp -s "$unit_src" "$unit_dst"; then unit_changed=0; fi
run install -m 0644 "$unit_src" "$unit_dst"
if [[ -f $REPO_DIR/docs/raspberry-pi.md ]]; then
    run install -d -m 0755 "$(R "$OPT_DIR/docs")"
    run install -m 0644 "$REPO_DIR/docs/raspberry-pi.md" "$(R "$OPT_DIR/docs/raspberry-pi.md")"
fi
if ((unit_changed)); then say "installed $unit_dst"; else say "unit $unit_dst unchanged"; fi

if [[ -n $ROOT && -z ${FORMCHECK_SYSTEMCTL:-} ]]; then
    if command -v systemctl >/dev/null; then
        # Offline enable: only creates the multi-user.target.wants symlink inside the root.
        run systemctl --root="$ROOT" --quiet enable "$UNIT_NAME"
        say "enabled $UNIT_NAME inside $ROOT"
    else
        say "skipped under --root: systemctl enable $UNIT_NAME (no systemctl here)"
    fi
elif systemd_running; then
    syscmd systemctl daemon-reload
    syscmd systemctl enable "$UNIT_NAME"
    if ((!START)); then
        say "not started (--no-start); a running station keeps its old code until: sudo systemctl restart formcheck"
    else
        if ((!DRY_RUN)) && syscmd systemctl --quiet is-active "$UNIT_NAME"; then
            say "restarting $UNIT_NAME with the new version"
            syscmd systemctl restart "$UNIT_NAME" ||
                warn "$UNIT_NAME did not restart: journalctl -u formcheck -b --no-pager | tail -50"
        else
            say "starting $UNIT_NAME (returns once the station is ready: camera open, models loaded)"
            syscmd systemctl start "$UNIT_NAME" ||
                warn "$UNIT_NAME did not start: journalctl -u formcheck -b --no-pager | tail -50"
        fi
    fi
else
    # No running service manager (image build, chroot): enabling works offline.
    run systemctl --quiet enable "$UNIT_NAME" || warn "systemctl enable failed"
    say "systemd is not running here: $UNIT_NAME is enabled and starts at the next boot"
fi

# ---------------------------------------------------------------------------------------
# checks that help a first install (warnings only)
# ---------------------------------------------------------------------------------------
if ((!DRY_RUN)) && [[ -f $config ]]; then
    # stdout is the whole effective config; the verdict and any problems are on stderr.
    if ! "$venv/bin/formcheck-station" --config "$config" --check-config >/dev/null; then
        warn "$config does not pass --check-config (see above); the service refuses to start until it does"
    fi
fi
if [[ -z $ROOT ]]; then
    [[ -e /dev/i2c-1 ]] || warn "no /dev/i2c-1: enable I2C for the OLED (sudo raspi-config nonint do_i2c 0, then reboot)"
fi

cat <<EOF

formcheck is installed.
  config:   $config   (check it: $VENV_DIR/bin/formcheck-station --config $CONFIG --check-config)
  models:   $(R "$STATE_DIR/models")   (set [models] dir to use your own)
  hardware: cd /tmp && sudo -u $SERVICE_USER $VENV_DIR/bin/formcheck-doctor --config $CONFIG   (service stopped)
  logs:     journalctl -u formcheck -f
  status:   systemctl status formcheck
EOF
