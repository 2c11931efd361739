"""``mrig serve --camera virtual`` in a subprocess for the browser tests, with a fresh data folder:
the first start's setup code is read from its log, as a new owner reads it."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

from tests.crash_harness import free_port

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "ui"
PASSWORD = "a long test password"  # noqa: S105 - set by the test on a throwaway camera
#: Upper bounds for waits (they end as soon as the condition holds).
#: How long the page may take to show a change. Generous: the server runs the virtual camera's
#: 12 MP sensor on the same two cores as the browser and the tests.
WAIT_MS = 45_000
CAPTURE_WAIT_MS = 240_000


class Server:
    """``mrig serve --camera virtual`` in a subprocess; its log lines are collected."""

    def __init__(self, data_dir: Path, config: Path, scheme: str = "http") -> None:
        self.port = free_port()
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware.cli", "serve", "--camera", "virtual", "--host",
             "127.0.0.1", "--port", str(self.port), "--data-dir", str(data_dir),
             "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.setup_code = None
        while True:
            try:
                line = self.lines.get(timeout=60)
            except queue.Empty:
                raise RuntimeError("server did not start:\n" + "\n".join(self.log)) from None
            found = re.search(r"setup code (\S+)", line)
            if found:  # a fresh camera: the setup code is the last thing the start prints
                self.setup_code = found.group(1)
                break
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + "\n".join(self.log))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line.rstrip())
            self.lines.put(line)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def virtual_camera_server(root: Path) -> Server:
    """The server the UI tests drive: a 640×480 live view, no GPIO, data under ``root``."""
    config = root / "config.toml"
    config.write_text("[camera]\npreview_width = 640\npreview_height = 480\n"
                      "[gpio]\nenabled = false\n")
    return Server(root / "data", config)


def save_log(server: Server, name: str) -> None:
    """The server's log beside the screenshots, for a failure seen only on a busy machine."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_text("\n".join(server.log) + "\n")
