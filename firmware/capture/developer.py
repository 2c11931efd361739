"""The camera's develop process: JPEGs from DNGs, off the server's threads and GIL.

The server has threads (the camera loop, the web server's pool), and a process with threads
must not fork (a lock another thread holds stays locked in the child), so the banded develop
of ``mrig develop``, which forks a worker per CPU for each frame (:mod:`isp.forked`), cannot
run inside it. It runs here instead: a separate, single-threaded Python process started with
``subprocess`` (fork + exec, safe from a threaded parent), which develops one DNG at a time
with exactly ``mrig develop``'s code (:func:`firmware.capture.develop.jpeg_from_dng`) and its
forked band workers. The JPEG comes back over a pipe and the server saves it.

The process ignores SIGINT and SIGTERM (a Ctrl-C or systemd's stop reaches the whole process
group): it ends when the server closes its pipe, after the JPEG in hand, so a graceful stop
can drain the queue. Protocol: the server writes one JSON line per DNG
(``{"dng": path}``); the process answers a JSON line (``{"ok": true, "size": n}`` followed by
``n`` bytes of JPEG, or ``{"ok": false, "error": "..."}``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

from firmware.capture.develop import DevelopOptions, jpeg_from_dng

log = logging.getLogger(__name__)


#: Longest a develop may take: a 12 MP frame takes about 10 s on a Pi 4 (0.6 s here, 8× less
#: per core: see tests/bench/bench_live.py), so this only catches a hung process.
DEVELOP_TIMEOUT_S = 600.0


class DevelopFailed(Exception):
    """A DNG could not be developed (the message says why), or the process died."""


class DevelopProcess:
    """The develop process seen from the server: :meth:`develop` one DNG at a time.

    The process starts on first use (a server that never shoots a JPEG never starts it) or on
    :meth:`start`, and again if it died.
    """

    def __init__(self, options: DevelopOptions | None = None) -> None:
        self.options = options or DevelopOptions()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        #: CPU seconds the last develop took in the process and its band workers.
        self.last_cpu_s = 0.0

    def start(self) -> None:
        """Start the process if it is not running (without waiting for a develop in hand)."""
        if self.pid is not None:
            return
        with self._lock:
            self._ensure()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        options = {"quality": self.options.quality, "tuning_target": self.options.tuning_target,
                   "tuning": str(self.options.tuning) if self.options.tuning else None}
        # No shell; the arguments are this interpreter, our module and our own settings.
        self._proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "firmware.capture.developer", json.dumps(options)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        log.info("develop process started (pid %d)", self._proc.pid)
        return self._proc

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def develop(self, dng: Path, timeout_s: float = DEVELOP_TIMEOUT_S) -> bytes:
        """The JPEG of ``dng``; :class:`DevelopFailed` if it cannot be developed, or if the
        process takes longer than ``timeout_s`` or breaks (it is killed, and started again
        next time)."""
        with self._lock:
            proc = self._ensure()
            try:
                reply, jpeg = _exchange(proc, dng, timeout_s)
            except (_Broken, OSError, ValueError, KeyError, TypeError) as e:
                self._kill()
                raise DevelopFailed(f"the develop process failed: {e}") from e
            if not reply.get("ok"):  # the file's problem; the process is fine
                raise DevelopFailed(str(reply.get("error", "develop failed")))
            self.last_cpu_s = float(reply.get("cpu_s", 0.0))
            return jpeg

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()

    def close(self, timeout_s: float = 10.0) -> None:
        """End the process: its pipe closes and it exits after the JPEG in hand; if that JPEG
        is not done within ``timeout_s``, the process is killed (the shot stays spooled)."""
        if not self._lock.acquire(timeout=timeout_s):
            proc = self._proc
            if proc is not None:
                proc.kill()  # the develop in hand ends with DevelopFailed
            self._lock.acquire()
        try:
            proc, self._proc = self._proc, None
        finally:
            self._lock.release()
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout_s)
        except (subprocess.TimeoutExpired, OSError):
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


class _Broken(Exception):
    """The develop process did not answer as it should (ended, hung, garbled)."""


def _exchange(proc: subprocess.Popen[bytes], dng: Path, timeout_s: float) -> tuple[dict, bytes]:
    """Send one DNG, read the answer: the reply and the JPEG (empty when it failed)."""
    if proc.stdin is None or proc.stdout is None:  # pragma: no cover - PIPE gives both
        raise _Broken("no pipes")
    proc.stdin.write(json.dumps({"dng": str(dng)}).encode() + b"\n")
    proc.stdin.flush()
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not ready:
        raise _Broken(f"no answer in {timeout_s:.0f} s")
    reply = json.loads(proc.stdout.readline() or b"null")
    if not isinstance(reply, dict):
        raise _Broken(f"it ended (exit {proc.poll()})")
    if not reply.get("ok"):
        return reply, b""
    size = int(reply["size"])
    jpeg = proc.stdout.read(size)
    if len(jpeg) != size:
        raise _Broken(f"it ended mid-answer (exit {proc.poll()})")
    return reply, jpeg


def _cpu_s() -> float:
    """CPU seconds of this process and its finished band workers."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str]) -> int:
    """The process: develop each DNG named on stdin, answer on stdout, until stdin ends."""
    from isp.exc import IspError

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    settings = json.loads(argv[0]) if argv else {}
    options = DevelopOptions(
        quality=int(settings.get("quality", 92)),
        tuning=Path(settings["tuning"]) if settings.get("tuning") else None,
        tuning_target=str(settings.get("tuning_target", "vc4")),
    )
    # The JPEGs go out on the original stdout; anything else printed goes to stderr, so a
    # stray print in a library cannot break the protocol.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin.buffer:
        cpu_before = _cpu_s()
        try:
            jpeg = jpeg_from_dng(Path(json.loads(line)["dng"]), options)
        except (IspError, OSError, ValueError, KeyError) as e:
            out.write(json.dumps({"ok": False, "error": str(e) or type(e).__name__}).encode() + b"\n")
        else:
            cpu_s = round(_cpu_s() - cpu_before, 4)
            out.write(json.dumps({"ok": True, "size": len(jpeg), "cpu_s": cpu_s}).encode() + b"\n")
            out.write(jpeg)
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
