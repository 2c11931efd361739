"""systemd/install.sh and systemd/hotspot.sh, run for real against a scratch root, a dry run
and a stand-in ``nmcli`` (no Pi, no root file system touched)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from firmware.config import Settings, load_settings

SYSTEMD = Path(__file__).resolve().parents[1] / "systemd"
INSTALL = SYSTEMD / "install.sh"
HOTSPOT = SYSTEMD / "hotspot.sh"
CONF = Path("etc/mrig/config.toml")


def sh(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


def tree(root: Path) -> dict[str, str]:
    """Every path under root with a digest of its content (or symlink target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
@pytest.mark.parametrize("script", [INSTALL, HOTSPOT], ids=lambda p: p.name)
def test_shellcheck_clean(script):
    proc = sh("shellcheck", script)
    assert proc.returncode == 0, proc.stdout


def test_dry_run_lists_the_plan():
    proc = sh(INSTALL, "--dry-run", "--tuning", "pisp", "--hostname", "camera")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in (
        "would run: apt-get install -y --no-install-recommends python3-picamera2",
        "python3 -m venv --system-site-packages /opt/mrig/venv",
        "--constraint /opt/mrig/constraints.txt /opt/mrig/src",
        "would write /etc/mrig/config.toml",
        "would write /etc/systemd/system/mrig.service",
        "would write /etc/avahi/services/mrig.service",
        "would run: systemctl enable mrig.service",
        "sudo -u mrig /opt/mrig/venv/bin/mrig set-password --data-dir /var/lib/mrig",
        "http://camera.local:8000/",
    ):
        assert step in out, step
    passwd = Path("/etc/passwd").read_text().splitlines()
    has_mrig_user = any(line.startswith("mrig:") for line in passwd)
    assert ("would run: useradd --system --user-group --groups video,gpio" in out) != has_mrig_user


@pytest.fixture
def installed(tmp_path):
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl not installed (it enables the unit offline in the scratch root)")
    root = tmp_path / "root"
    args = ("--root", root, "--tuning", "pisp", "--port", "8080", "--hostname", "camera")
    proc = sh(INSTALL, *args)
    assert proc.returncode == 0, proc.stderr
    return root, args, proc.stdout


def test_scratch_root_config_loads_with_the_chosen_values(installed):
    root, _, out = installed
    settings = load_settings(root / CONF)
    assert settings.camera.tuning == "pisp"
    assert settings.camera.backend == "picamera2"
    assert (settings.server.port, settings.server.hostname) == (8080, "camera")
    assert settings.server.host == "0.0.0.0"  # noqa: S104 (the phone must reach it)
    assert settings.storage.data_dir == Path("/var/lib/mrig")
    assert settings.gpio == Settings().gpio  # the pins in hardware/wiring.md
    assert "http://camera.local:8080/" in out


def test_config_spells_out_every_setting(installed):
    """The commented file is the documentation: every key of the schema appears in it."""
    data = tomllib.loads((installed[0] / CONF).read_text())
    for section, model in Settings.model_fields.items():
        assert set(data[section]) == set(model.annotation.model_fields), section


def test_scratch_root_files(installed):
    root, _, out = installed
    assert (root / "etc/systemd/system/mrig.service").read_text() == (
        SYSTEMD / "mrig.service"
    ).read_text()
    wants = root / "etc/systemd/system/multi-user.target.wants/mrig.service"
    assert os.readlink(wants) == "/etc/systemd/system/mrig.service"
    assert "<port>8080</port>" in (root / "etc/avahi/services/mrig.service").read_text()
    src = root / "opt/mrig/src"
    assert (src / "pyproject.toml").is_file() and (src / "firmware/cli.py").is_file()
    assert (src / "systemd/hotspot.sh").is_file()
    assert not (src / ".git").exists() and not (src / ".venv").exists()
    assert (root / "var/lib/mrig").is_dir()
    # Users, packages and services outside the scratch root are only printed.
    assert "would run: useradd --system --user-group --groups video,gpio" in out
    assert "would run: apt-get install" in out
    assert "would run: systemctl restart mrig.service" in out


def test_reinstall_is_idempotent_and_keeps_user_settings(installed):
    root, args, _ = installed
    before = tree(root)
    proc = sh(INSTALL, *args)
    assert proc.returncode == 0, proc.stderr
    assert tree(root) == before
    assert "keeping /etc/mrig/config.toml" in proc.stdout

    conf = root / CONF
    conf.write_text(conf.read_text().replace("max_streams = 8", "max_streams = 3"))
    assert sh(INSTALL, *args).returncode == 0
    assert load_settings(conf).server.max_streams == 3


def test_uninstall_keeps_photos_and_settings_unless_purged(installed):
    root, _, _ = installed
    (root / "var/lib/mrig/IMG_0001.dng").write_bytes(b"raw")
    proc = sh(INSTALL, "--root", root, "--uninstall")
    assert proc.returncode == 0, proc.stderr
    assert not (root / "opt/mrig").exists()
    assert not (root / "etc/systemd/system/mrig.service").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/mrig.service").exists()
    assert not (root / "etc/avahi/services/mrig.service").exists()
    assert (root / CONF).is_file() and (root / "var/lib/mrig/IMG_0001.dng").is_file()

    proc = sh(INSTALL, "--root", root, "--uninstall", "--purge")
    assert proc.returncode == 0, proc.stderr
    assert not (root / "etc/mrig").exists() and not (root / "var/lib/mrig").exists()


@pytest.mark.parametrize(
    "bad",
    [("--port", "0"), ("--tuning", "pi5"), ("--hostname", "my camera"), ("--purge",), ("--x",)],
)
def test_bad_options_are_refused(bad, tmp_path):
    proc = sh(INSTALL, "--root", tmp_path / "root", *bad)
    assert proc.returncode == 2
    assert proc.stderr.startswith("install.sh: ")
    assert not (tmp_path / "root/etc").exists()


# --- hotspot.sh against a stand-in nmcli that records its calls and remembers the connection


FAKE_NMCLI = """#!/bin/sh
echo "$*" >> "$NMCLI_LOG"
case "$*" in
    "--terse connection show mrig-hotspot") test -e "$NMCLI_STATE" ;;
    "connection load "*) touch "$NMCLI_STATE" ;;
    "connection delete "*) rm -f "$NMCLI_STATE" ;;
    "--get-values connection.uuid connection show mrig-hotspot") echo 0b7c1a4e-kept-uuid ;;
    *"802-11-wireless-security.psk connection show mrig-hotspot") echo stored-secret ;;
esac
"""


@pytest.fixture
def nmcli(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nmcli"
    fake.write_text(FAKE_NMCLI)
    fake.chmod(0o755)
    log = tmp_path / "nmcli.log"
    nm_dir = tmp_path / "system-connections"
    nm_dir.mkdir()
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "NMCLI_LOG": str(log),
        "NMCLI_STATE": str(tmp_path / "exists"),
        "MRIG_NM_DIR": str(nm_dir),
    }

    def calls() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    return env, calls, nm_dir / "mrig-hotspot.nmconnection"


def keyfile(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_hotspot_on_writes_a_private_keyfile_and_never_passes_the_password(nmcli):
    env, calls, profile = nmcli
    proc = subprocess.run([str(HOTSPOT), "on", "--ssid", "field cam", "--password-stdin"],
                          input="s3cret-pass\n", capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    kf = keyfile(profile)
    assert (kf["mode"], kf["ssid"], kf["psk"], kf["key-mgmt"]) == ("ap", "field cam",
                                                                     "s3cret-pass", "wpa-psk")
    assert kf["pmf"] == "2" and kf["method"] in ("shared", "ignore")
    assert kf["autoconnect"] == "false" and kf["interface-name"] == "wlan0"
    assert not any("s3cret-pass" in c for c in calls())  # never on nmcli's command line
    assert f"connection load {profile}" in calls()
    assert calls()[-1] == "connection up mrig-hotspot"
    assert "10.42.0.1:8000" in proc.stdout and "s3cret-pass" in proc.stdout
    first_uuid = kf["uuid"]

    proc = sh(HOTSPOT, "on", "--boot", env=env)
    assert proc.returncode == 0, proc.stderr
    kf = keyfile(profile)
    assert kf["autoconnect"] == "true" and kf["autoconnect-priority"] == "-100"
    assert kf["psk"] == "stored-secret"  # the kept password, read back from NetworkManager
    assert kf["uuid"] == "0b7c1a4e-kept-uuid" != first_uuid  # the connection keeps its id
    assert "stored-secret" in proc.stdout
    assert not any("stored-secret" in c for c in calls())


def test_hotspot_makes_a_password_when_none_is_given(nmcli):
    env, calls, profile = nmcli
    assert sh(HOTSPOT, "on", env=env).returncode == 0
    psk = keyfile(profile)["psk"]
    assert len(psk) == 12 and psk.isalnum()


def test_hotspot_off_and_remove(nmcli):
    env, calls, profile = nmcli
    assert sh(HOTSPOT, "off", env=env).returncode == 0
    assert not [c for c in calls() if c.startswith("connection down")]  # nothing to stop
    assert sh(HOTSPOT, "on", "--password", "12345678", env=env).returncode == 0
    assert sh(HOTSPOT, "off", env=env).returncode == 0
    assert "connection down mrig-hotspot" in calls()
    assert sh(HOTSPOT, "remove", env=env).returncode == 0
    assert "connection delete mrig-hotspot" in calls()


def test_hotspot_dry_run_and_bad_input(nmcli):
    env, calls, profile = nmcli
    proc = sh(HOTSPOT, "on", "--dry-run", "--password", "12345678", env=env)
    assert proc.returncode == 0
    assert f"would write {profile}" in proc.stdout
    assert f"would run: nmcli connection load {profile}" in proc.stdout
    assert not profile.exists() and not [c for c in calls() if not c.startswith("--terse")]
    proc = sh(HOTSPOT, "on", "--password", "short", env=env)
    assert proc.returncode == 2 and "8 to 63" in proc.stderr
    proc = sh(HOTSPOT, "on", "--ssid", "bad\nname", env=env)
    assert proc.returncode == 2 and "--ssid" in proc.stderr
