"""Kill a real ``mrig serve`` with SIGKILL in the middle of captures, restart it, and check that
every photo it lists decodes and every shot it acknowledged is there: its DNG at once, its JPEG
once the restarted server has developed what was spooled. Shared by ``tests/test_crash_safety.py`` (a few kills, in CI) and
``tests/bench/bench_crash_safety.py`` (a few hundred)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

PASSWORD = "crash safety password"  # noqa: S105 - set on a throwaway data folder
ROOT = Path(__file__).resolve().parents[1]


def closed(s: socket.socket, wait_s: float) -> bool:
    """Whether the server has closed (or reset) the connection ``s``."""
    s.settimeout(wait_s)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_password(data_dir: Path) -> None:
    subprocess.run([sys.executable, "-m", "firmware.cli", "set-password", "--data-dir",
                    str(data_dir)], input=PASSWORD + "\n", text=True, check=True, cwd=ROOT,
                   capture_output=True)


class Server:
    """``mrig serve --camera virtual`` in a subprocess; ``kill()`` is SIGKILL, no clean-up at all."""

    def __init__(self, data_dir: Path, log: Path, config: Path | None = None, *,
                 https_ca: Path | None = None) -> None:
        """``https_ca``: the config serves HTTPS with this (self-signed) certificate, which the
        clients trust and nothing else."""
        self.data_dir = data_dir
        self.port = free_port()
        self.base_url = f"{'https' if https_ca else 'http'}://127.0.0.1:{self.port}"
        self.verify = ssl.create_default_context(cafile=https_ca) if https_ca else True
        env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", PYTHONUNBUFFERED="1")
        env.pop("NOTIFY_SOCKET", None)
        self._log = open(log, "ab")  # closed in kill() or stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware.cli", "serve", "--camera", "virtual", "--host",
             "127.0.0.1", "--port", str(self.port), "--data-dir", str(data_dir),
             *(["--config", str(config)] if config else [])],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def client(self, timeout_s: float = 120.0) -> httpx.Client:
        """A logged-in client, once the server answers (raises if it died or never came up)."""
        deadline = time.monotonic() + timeout_s
        client = httpx.Client(base_url=self.base_url, timeout=120, verify=self.verify)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mrig serve exited with {self.proc.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/api/session").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("mrig serve did not come up")
            time.sleep(0.1)
        r = client.post("/api/login", json={"password": PASSWORD})
        r.raise_for_status()
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        # The camera starts after the server answers (on the virtual camera the first
        # full-resolution frame takes a couple of seconds to render).
        while client.get("/api/status").json().get("state") != "running":
            if time.monotonic() > deadline:
                raise TimeoutError("the camera did not start")
            time.sleep(0.1)
        return client

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
        self._log.close()


def _capture_loop(client: httpx.Client, formats: list[str], stop: threading.Event,
                  done: list[str]) -> None:
    i = 0
    while not stop.is_set():
        try:
            r = client.post("/api/capture", json={"format": formats[i % len(formats)]})
        except httpx.TransportError:
            return  # the server was killed under us
        if r.status_code == 200:
            done.extend(r.json()["files"])
        i += 1


def decode(name: str, data: bytes) -> tuple[int, int]:
    """(width, height) of a photo file's image; raises if it does not decode."""
    if name.endswith(".jpg"):
        import simplejpeg

        image = simplejpeg.decode_jpeg(data)
        return image.shape[1], image.shape[0]
    import rawpy

    with rawpy.imread(io.BytesIO(data)) as raw:
        h, w = raw.raw_image_visible.shape
        return w, h


def wait_answering(client: httpx.Client, timeout_s: float = 60.0) -> None:
    """Until a server just started answers on ``client`` (logged in or not)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.get("/api/session")
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_developed(client: httpx.Client, timeout_s: float = 300.0) -> None:
    """Until the server's buffer is written and every spooled JPEG developed."""
    deadline = time.monotonic() + timeout_s
    while True:
        queue = client.get("/api/capture/queue").json()
        if queue["buffered"] == 0 and queue["developing"] == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the queue did not drain: {queue}")
        time.sleep(0.1)


def verify(client: httpx.Client, acknowledged: set[str] = frozenset()) -> int:
    """Download and decode every file the gallery lists, and check that every acknowledged
    file is among them; returns how many."""
    files = []
    offset = 0
    while True:
        page = client.get("/api/photos", params={"offset": offset, "limit": 500}).json()
        for item in page["items"]:
            files.extend(item["files"])
        offset += len(page["items"])
        if offset >= page["total"] or not page["items"]:
            break
    missing = sorted(acknowledged - set(files))
    assert not missing, f"acknowledged but missing after the restart: {missing}"
    for name in files:
        r = client.get(f"/api/photos/{name}")
        assert r.status_code == 200, (name, r.status_code)
        w, h = decode(name, r.content)
        assert w > 0 and h > 0, name
    return len(files)


@dataclasses.dataclass
class CrashReport:
    kills: int = 0
    kill_times_s: list[float] = dataclasses.field(default_factory=list)
    completed_before_kill: int = 0
    """Captures the API confirmed before a kill (the warm-up ones included)."""
    files_checked: int = 0
    leftover_temp_files_after_restart: int = 0
    acknowledged_files: int = 0
    """Files the API named in its answers (the JPEGs to come among them), all checked."""


def crash_loop(data_dir: Path, kills: int, seed: int, *,
               formats: tuple[str, ...] = ("dng", "jpeg", "both"), log: Path | None = None,
               progress=None, keep: int | None = None) -> CrashReport:
    """Start, capture in a loop, SIGKILL at a random moment; ``kills`` times. After each restart,
    every listed photo must decode. Then one clean stop.

    The first start takes one capture of each format to completion (its JPEG developed) and
    times it; kills then fall uniformly over 1.2 times the slowest, so they land in every phase
    of one (the still, the buffer, the DNG encode and write, the spool, the develop, the JPEG's
    write, fsyncs and renames). After each restart the spooled JPEGs are developed first, then
    every acknowledged file must be listed and decode. With ``keep``, the gallery is pruned to
    the newest ``keep`` captures after each check (long runs)."""
    rng = random.Random(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    set_password(data_dir)
    log = log or data_dir.parent / "serve.log"
    report = CrashReport()
    acknowledged: set[str] = set()
    for k in range(kills + 1):
        server = Server(data_dir, log)
        try:
            client = server.client()
            wait_developed(client)
            photos = data_dir / "photos"
            report.leftover_temp_files_after_restart += sum(
                1 for p in (*photos.glob(".tmp-*"), *photos.glob(".spool/*"))
            ) if photos.is_dir() else 0
            checked = verify(client, acknowledged)
            report.acknowledged_files = len(acknowledged)
            report.files_checked = checked if keep is None else report.files_checked + checked
            if keep is not None:
                items = client.get("/api/photos", params={"limit": 500}).json()["items"]
                for item in items[keep:]:
                    client.delete(f"/api/photos/{item['name']}").raise_for_status()
                    acknowledged -= {f"{item['name']}.dng", f"{item['name']}.jpg"}
            if k == kills:
                break
            if k == 0:
                slowest = 0.0
                for fmt in formats:
                    t0 = time.monotonic()
                    r = client.post("/api/capture", json={"format": fmt})
                    r.raise_for_status()
                    acknowledged.update(r.json()["files"])
                    wait_developed(client)
                    slowest = max(slowest, time.monotonic() - t0)
                report.completed_before_kill += len(formats)
                window_s = (0.0, 1.2 * slowest)
            stop, done = threading.Event(), []
            order = list(formats)
            rng.shuffle(order)
            worker = threading.Thread(target=_capture_loop, args=(client, order, stop, done))
            worker.start()
            delay = rng.uniform(*window_s)
            time.sleep(delay)
            server.kill()
            stop.set()
            worker.join(60)
            report.kills += 1
            report.kill_times_s.append(round(delay, 3))
            report.completed_before_kill += len(done)
            acknowledged.update(done)
            if progress:
                progress(k + 1, report)
        finally:
            if server.proc.poll() is None:
                server.stop()
    return report
