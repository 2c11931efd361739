"""The README's first start, as a new user does it: ``make run`` serves this machine only;
``make run HOST=0.0.0.0`` is reachable from another address (127.0.0.2 stands in for the phone
on the Wi-Fi). Loopback addresses only."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import pytest

from firmware.app import _network_address
from tests.crash_harness import ROOT, free_port


def _make_run(tmp_path, *variables: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock")
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}", f"DATA={tmp_path / 'data'}",
         *variables],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    return proc, port


def _wait_for_setup_code(proc: subprocess.Popen) -> list[str]:
    lines = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if "setup code" in line:
            return lines
        assert time.monotonic() < deadline, "\n".join(lines)
    raise AssertionError("make run ended:\n" + "\n".join(lines))


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("host", ["", "0.0.0.0"])  # noqa: S104 - what the README tells a user
def test_make_run_reaches_the_phone_only_when_asked(tmp_path, host):
    proc, port = _make_run(tmp_path, *([f"HOST={host}"] if host else []))
    try:
        lines = _wait_for_setup_code(proc)
        # This machine always gets the login page.
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        phone = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
        if host:
            r = phone.get(f"http://127.0.0.2:{port}/")
            assert r.status_code == 200 and "<title>" in r.text
            assert phone.get(f"http://127.0.0.2:{port}/api/status").status_code == 401
        else:
            with pytest.raises(httpx.ConnectError):
                phone.get(f"http://127.0.0.2:{port}/")
        # The setup code is the last thing printed, and says where to go: this machine, or
        # with HOST=0.0.0.0 its network address (not "mrig.local": that is the Pi's name).
        where = next(line for line in lines[-8:] if f":{port}/" in line)
        assert ("127.0.0.1" in where) != bool(host)
        if host and _network_address() is not None:  # a machine with a network
            assert f"http://{_network_address()}:{port}/" in where
    finally:
        _stop(proc)
