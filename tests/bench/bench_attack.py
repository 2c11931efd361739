"""What someone on the camera's Wi-Fi without the password can cost it (issue 17), against a
real ``mrig serve --camera virtual`` on loopback, in one run:

- 40 wrong passwords sent at once from one client: how many were hashed (401; the rest 429
  before hashing) and the server's peak RSS growth; goal ≤ 5 hashed, < 150 MiB;
- a 16 MiB JSON body to /api/login: status and answer size; goal 413, < 64 KiB;
- the owner's response time, once a second for 20 s, while another loopback address holds
  1,100 half-sent requests against a server under a 1024/4096 open-file limit; goal every
  answer within 5 s. Then the same with HTTPS on, the 1,100 sockets never starting TLS.
"""

from __future__ import annotations

import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.crash_harness import PASSWORD, ROOT, free_port, set_password, wait_answering

MIB = 1024 * 1024


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _serve(data: Path, port: int, log: Path, config: Path | None = None) -> subprocess.Popen:
    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))  # Debian's default

    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock")
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen(
        [sys.executable, "-m", "firmware.cli", "serve", "--camera", "virtual", "--host",
         "127.0.0.1", "--port", str(port), "--data-dir", str(data),
         *(["--config", str(config)] if config else [])],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        preexec_fn=limit_files,  # noqa: PLW1509 - no threads in this process yet
    )


def _peak_growth(pid: int, during) -> int:
    """Peak RSS above the RSS at the start while ``during()`` runs, sampled every 10 ms."""
    rest = _rss(pid)
    peak = [rest]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        during()
    finally:
        stop.set()
        sampler.join()
    return peak[0] - rest


def _client(base: str, local: str, verify: ssl.SSLContext | bool = True) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30,
                          transport=httpx.HTTPTransport(local_address=local, verify=verify))
    wait_answering(client)
    return client


def _owner_while_held(owner: httpx.Client, port: int, opening: bytes) -> list[float]:
    """The owner's login time, 20 tries a second apart, while 127.0.0.3 holds 1,100
    connections that sent ``opening`` and nothing more (inf: no answer)."""
    held: list[socket.socket] = []
    for _ in range(1100):
        s = socket.socket()
        s.bind(("127.0.0.3", 0))
        try:
            s.connect(("127.0.0.1", port))
            if opening:
                s.sendall(opening)
        except OSError:
            s.close()
            continue
        held.append(s)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        try:
            ok = owner.post("/api/login", json={"password": PASSWORD}).status_code == 200
        except httpx.TransportError:
            ok = False
        times.append((time.perf_counter() - t0) if ok else float("inf"))
        time.sleep(1.0)
    for s in held:
        s.close()
    return times


def _https_round(tmp: Path) -> None:
    """The held-connections attack again with HTTPS on: sockets that never send a TLS hello."""
    from tests.certificates import https_config, make_certificate

    cert, key = make_certificate(tmp / "tls")
    data = tmp / "data-https"
    data.mkdir()
    set_password(data)
    port = free_port()
    proc = _serve(data, port, tmp / "serve-https.log",
                  https_config(tmp / "https.toml", cert, key))
    try:
        owner = _client(f"https://127.0.0.1:{port}", "127.0.0.2",
                        ssl.create_default_context(cafile=cert))
        time.sleep(3)
        times = _owner_while_held(owner, port, b"")
        print(f"  HTTPS on, the same 1,100 connections never starting TLS: slowest "
              f"{max(times):.2f} s, median {sorted(times)[10]:.3f} s (goal every answer within 5 s)")
        owner.close()
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))  # our own sockets
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        set_password(data)
        port = free_port()
        proc = _serve(data, port, Path(tmp) / "serve.log")
        base = f"http://127.0.0.1:{port}"
        try:
            owner = _client(base, "127.0.0.2")
            attacker = _client(base, "127.0.0.3")
            time.sleep(3)  # the camera up, the server at rest
            codes: list[object] = []

            def guess() -> None:
                try:
                    codes.append(attacker.post("/api/login", json={"password": "a wrong guess"})
                                 .status_code)
                except httpx.TransportError:
                    codes.append("reset")  # over the 32 connections one client may hold

            def attack() -> None:
                threads = [threading.Thread(target=guess) for _ in range(40)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()

            quiet = _peak_growth(proc.pid, lambda: time.sleep(4.0))
            growth = _peak_growth(proc.pid, attack)
            print(f"  40 parallel wrong logins from one client: {codes.count(401)} hashed (401), "
                  f"{codes.count(429)} refused before hashing (429), {codes.count('reset')} "
                  f"connections over the per-client cap reset; server RSS +{growth / MIB:.0f} MiB "
                  f"at peak (4 s without the attack: +{quiet / MIB:.0f} MiB, the virtual camera's "
                  f"own swings) (goal ≤ 5 hashed, < 150 MiB)")

            big = b'{"password": "' + b"x" * (16 * MIB) + b'"}'
            r = httpx.post(f"{base}/api/login", content=big, timeout=60,
                           headers={"content-type": "application/json"})
            print(f"  a 16 MiB body to /api/login: {r.status_code}, answer {len(r.content)} bytes "
                  f"(goal 413, < 64 KiB)")

            times = _owner_while_held(
                owner, port, b"GET /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            print(f"  the owner's login while another address held 1,100 half-sent requests "
                  f"(server at 1024/4096 open files), 20 tries a second apart: slowest "
                  f"{max(times):.2f} s, median {sorted(times)[10]:.3f} s "
                  f"(goal every answer within 5 s)")
            owner.close()
            attacker.close()
        finally:
            proc.terminate()
            proc.wait(60)
        _https_round(Path(tmp))


if __name__ == "__main__":
    main()
