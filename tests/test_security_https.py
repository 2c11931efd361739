"""Optional HTTPS (issue 17): the certificate the installer makes per device, ``mrig serve``
over TLS with it, and its fingerprint in the installer's, the server's and ``mrig selftest``'s
words, each compared with what openssl itself reads from the file."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from firmware import tls
from firmware.api import connections
from firmware.config import load_settings
from firmware.exc import ConfigError
from tests.certificates import https_config, make_certificate
from tests.crash_harness import PASSWORD, ROOT, Server, closed, set_password

INSTALL = ROOT / "systemd" / "install.sh"
TLS_DIR = Path("etc/mrig/tls")

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def run(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def openssl_reads(cert: Path) -> dict[str, str]:
    """What ``openssl x509`` says of ``cert``: fingerprint, end date and names."""
    out = run("openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256", "-enddate",
              "-ext", "subjectAltName").stdout.splitlines()
    return {
        "fingerprint": out[0].split("=", 1)[1],
        "not_after": out[1].split("=", 1)[1],
        "names": out[3].strip(),
    }


def install(root: Path, *extra: str) -> subprocess.CompletedProcess:
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl not installed (the installer enables the unit in the scratch root)")
    proc = run(INSTALL, "--root", root, "--hostname", "camera", "--port", "8080",
               "--tuning", "vc4", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc


# --- the installer's certificate --------------------------------------------------------------


def test_the_installer_makes_a_certificate_for_this_pi(tmp_path):
    root = tmp_path / "root"
    out = install(root).stdout
    cert, key = root / TLS_DIR / "mrig.crt", root / TLS_DIR / "mrig.key"
    ours = tls.read_certificate(cert)
    theirs = openssl_reads(cert)
    assert ours.fingerprint_sha256 == theirs["fingerprint"]
    assert ours.not_after == dt.datetime.strptime(
        theirs["not_after"], "%b %d %H:%M:%S %Y GMT").replace(tzinfo=dt.UTC)
    # The mDNS name, the hotspot's address and this machine; a real install adds `hostname -I`.
    assert ours.names == ("camera.local", "localhost", "10.42.0.1", "127.0.0.1", "::1")
    assert theirs["names"] == ("DNS:camera.local, DNS:localhost, IP Address:10.42.0.1, "
                               "IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1")
    assert tls.VALID_DAYS - 1 < ours.days_left() <= tls.VALID_DAYS
    tls.check_key_pair(cert, key)
    # The key: root and the mrig group only (the group is set by a command printed here).
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    assert stat.S_IMODE((root / TLS_DIR).stat().st_mode) == 0o750
    assert "would run: chown root:mrig /etc/mrig/tls/mrig.key" in out
    # The owner is told the fingerprint, and that HTTPS is off until the config says so.
    assert f"SHA-256 {ours.fingerprint_sha256}" in out
    assert ("HTTPS is off (https = true in the [server] section of /etc/mrig/config.toml "
            "turns it on)") in out
    assert "from before HTTPS" not in out
    settings = load_settings(root / "etc/mrig/config.toml")
    assert settings.server.https is False
    assert settings.server.tls_certfile == Path("/etc/mrig/tls/mrig.crt")
    assert settings.server.tls_keyfile == Path("/etc/mrig/tls/mrig.key")


def test_a_certificate_is_kept_until_it_nears_its_end_or_a_new_one_is_asked_for(tmp_path):
    root = tmp_path / "root"
    install(root)
    cert = root / TLS_DIR / "mrig.crt"
    first = tls.read_certificate(cert).fingerprint_sha256
    assert "keeping the HTTPS certificate" in install(root).stdout
    assert tls.read_certificate(cert).fingerprint_sha256 == first

    install(root, "--new-certificate")
    second = tls.read_certificate(cert).fingerprint_sha256
    assert second != first

    # One that ends within 30 days is replaced by the next install (an update, say).
    make_certificate(root / TLS_DIR, days=10, names="DNS:camera.local")
    ending = tls.read_certificate(cert)
    assert ending.days_left() < tls.RENEW_BEFORE_DAYS
    install(root)
    assert tls.read_certificate(cert).days_left() > tls.VALID_DAYS - 1

    # A Pi renamed: the certificate must name the new .local address.
    proc = run(INSTALL, "--root", root, "--hostname", "studio", "--port", "8080", "--tuning", "vc4")
    assert proc.returncode == 0, proc.stderr
    assert tls.read_certificate(cert).names[0] == "studio.local"


def test_https_turned_on_is_in_the_installers_words_and_announced(tmp_path):
    root = tmp_path / "root"
    install(root)
    conf = root / "etc/mrig/config.toml"
    avahi = root / "etc/avahi/services/mrig.service"
    assert "<type>_http._tcp</type>" in avahi.read_text()
    conf.write_text(conf.read_text().replace("https = false", "https = true"))
    out = install(root).stdout
    assert "https://camera.local:8080/" in out
    assert "accept only if its certificate shows" in out
    assert load_settings(conf).server.https is True
    assert "<type>_https._tcp</type>" in avahi.read_text()  # DNS-SD browsers open https


def test_a_config_from_before_https_is_told_what_to_add(tmp_path):
    """A config kept from an older install has no https lines: the installer says what to add
    and where; `https = true` in another section does not count (the service would refuse it)."""
    root = tmp_path / "root"
    install(root)
    conf = root / "etc/mrig/config.toml"
    old = "\n".join(line for line in conf.read_text().splitlines()
                    if not line.startswith(("https", "tls_")))
    conf.write_text(old + "\n")
    out = install(root).stdout
    assert "from before HTTPS: to turn it on, add under [server]:" in out
    assert 'tls_certfile = "/etc/mrig/tls/mrig.crt"' in out
    conf.write_text(old + "\nhttps = true\n")  # appended at the end: under [gpio]
    out = install(root).stdout
    assert "http://camera.local:8080/" in out and "HTTPS is off" in out


def test_a_key_that_does_not_fit_its_certificate_is_replaced(tmp_path):
    root = tmp_path / "root"
    install(root)
    make_certificate(tmp_path / "other")
    (root / TLS_DIR / "mrig.key").write_bytes((tmp_path / "other/mrig.key").read_bytes())
    assert "made an HTTPS certificate" in install(root).stdout
    tls.check_key_pair(root / TLS_DIR / "mrig.crt", root / TLS_DIR / "mrig.key")


# --- the server over TLS ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("https")
    cert, key = make_certificate(folder / "tls")
    data = folder / "data"
    set_password(data)
    log = folder / "serve.log"
    server = Server(data, log, https_config(folder / "config.toml", cert, key), https_ca=cert)
    client = server.client()
    yield server, client, cert, log
    client.close()
    server.stop()


def test_the_camera_serves_https_with_its_certificate(https_server):
    server, client, cert, log = https_server
    assert server.base_url.startswith("https://")
    # Logged in (server.client) with only this certificate trusted: the TLS is real.
    assert client.get("/api/status").status_code == 200
    r = client.post("/api/login", json={"password": PASSWORD})
    assert r.status_code == 200
    assert "secure" in r.headers["set-cookie"].lower().split("; ")
    # The log names the fingerprint for the owner to compare with the browser's.
    fingerprint = tls.read_certificate(cert).fingerprint_sha256
    assert f"SHA-256 fingerprint {fingerprint}" in log.read_text()


def test_a_client_that_does_not_trust_it_is_refused_and_plain_http_gets_nothing(https_server):
    server, *_ = https_server
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(server.base_url + "/api/session", timeout=10)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{server.port}/api/session", timeout=10)


def test_sockets_that_never_start_tls_are_capped_and_dropped(https_server):
    """Idle sockets that never send a TLS hello: beyond 32 from one address closed at once,
    the rest within the 10 s handshake deadline (asyncio's own is 60 s); the owner is served."""
    server, client, cert, _ = https_server
    held = [socket.create_connection(("127.0.0.1", server.port), source_address=("127.0.0.5", 0))
            for _ in range(40)]
    try:
        start = time.monotonic()
        assert client.get("/api/session").status_code == 200
        with httpx.Client(base_url=server.base_url, verify=server.verify, timeout=10) as fresh:
            assert fresh.get("/api/session").status_code == 200  # a new connection, with TLS
        assert time.monotonic() - start < 5
        assert sum(closed(s, 0.2) for s in held) >= 40 - 32
        time.sleep(connections.HEADER_TIMEOUT_S + 1)
        assert all(closed(s, 2.0) for s in held)
    finally:
        for s in held:
            s.close()
    # Every dropped or refused one was let go: the same address gets its 32 TLS connections.
    context = ssl.create_default_context(cafile=cert)
    again = []
    try:
        for _ in range(connections.MAX_CONNECTIONS_PER_CLIENT):
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                           source_address=("127.0.0.5", 0))
            again.append(context.wrap_socket(raw, server_hostname="127.0.0.1"))
    finally:
        for s in again:
            s.close()
    assert len(again) == connections.MAX_CONNECTIONS_PER_CLIENT
    assert client.get("/api/status").status_code == 200


def test_an_ending_certificate_is_served_and_said_at_start(tmp_path):
    """A certificate near (or past) its end is still served, so the camera stays reachable;
    the journal says so at every start, with the command that makes a new one."""
    cert, key = make_certificate(tmp_path / "tls", days=5)
    data = tmp_path / "data"
    set_password(data)
    log = tmp_path / "serve.log"
    server = Server(data, log, https_config(tmp_path / "config.toml", cert, key), https_ca=cert)
    try:
        client = server.client()
        assert client.get("/api/status").status_code == 200
        client.close()
    finally:
        server.stop()
    assert "the HTTPS certificate ends in 5 days" in log.read_text()
    assert "sudo systemd/install.sh --new-certificate" in log.read_text()


@pytest.mark.parametrize("fault", ["missing", "mismatched"])
def test_serve_refuses_a_certificate_it_cannot_serve_with(tmp_path, fault):
    cert, key = make_certificate(tmp_path)
    if fault == "missing":
        cert.unlink()
        expected = f"{cert}: no such file"
    else:
        _, key = make_certificate(tmp_path, stem="other")
        expected = "not a certificate and its key"
    config = https_config(tmp_path / "config.toml", cert, key)
    proc = run(sys.executable, "-m", "firmware.cli", "serve", "--camera", "virtual",
               "--config", config, "--data-dir", tmp_path / "data", "--port", "1")
    assert proc.returncode == 2
    assert proc.stderr.startswith("mrig serve: ") and expected in proc.stderr, proc.stderr
    assert not (tmp_path / "data").exists()


def test_read_certificate_refuses_what_is_not_one(tmp_path):
    (tmp_path / "a.crt").write_text("hello")
    with pytest.raises(ConfigError, match="no PEM certificate"):
        tls.read_certificate(tmp_path / "a.crt")
    with pytest.raises(ConfigError, match="cannot read"):
        tls.read_certificate(tmp_path / "none.crt")


# --- mrig selftest ----------------------------------------------------------------------------


def selftest(config: Path) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "firmware.cli", "selftest", "--no-camera", "--no-gpio",
               "--config", config)


def test_selftest_prints_the_fingerprint_and_warns_before_the_end(tmp_path):
    cert, key = make_certificate(tmp_path)
    proc = selftest(https_config(tmp_path / "config.toml", cert, key))
    assert proc.returncode == 0, proc.stdout
    fingerprint = openssl_reads(cert)["fingerprint"]
    assert f"PASS  https: certificate for localhost, 127.0.0.1; SHA-256 fingerprint {fingerprint}" \
        in proc.stdout

    cert, key = make_certificate(tmp_path, days=5, stem="ending")
    proc = selftest(https_config(tmp_path / "config.toml", cert, key))
    assert proc.returncode == 0
    assert "ends in 5 days: sudo systemd/install.sh --new-certificate" in proc.stdout

    os.unlink(key)
    proc = selftest(https_config(tmp_path / "config.toml", cert, key))
    assert proc.returncode == 1
    assert f"FAIL  https: {key}: no such file" in proc.stdout


def test_selftest_says_when_https_is_off(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[gpio]\nenabled = false\n")
    proc = selftest(config)
    assert proc.returncode == 0
    assert "SKIP  https: off, plain HTTP (server.https = false)" in proc.stdout
