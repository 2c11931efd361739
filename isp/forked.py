"""Bands of a frame developed on forked worker processes: the pipeline without the GIL.

Why processes: a tile is some thousands of numpy calls, and between two calls a thread needs the
GIL. With one thread per CPU a full frame takes 1.2 to 1.3 times as long as on as many forked
workers (``python -m tests.bench bench_isp`` prints both), which share nothing but the memory
bus. ``fork`` gives every worker the raw frame copy-on-write, so nothing is sent
to them, and each sends back only what ``finish`` makes of a band (a JPEG band: some 0.3 MB).

Work is handed out through a pipe of band numbers, written before the fork: every read of four
bytes takes one band (reads of a pipe are atomic, and only whole numbers are in it), so a worker
that is slowed down simply takes fewer bands.

Forking a process that runs other threads is unsafe (a lock one of them holds stays locked in
the child forever), so :func:`can_fork` says whether this process may; callers fall back to
threads otherwise. Workers leave with ``os._exit``: no atexit handlers, no flushing of buffers
they inherited.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import struct
import threading
import traceback
from collections.abc import Callable

import numpy as np

from isp.allocator import reuse_freed_memory
from isp.exc import IspError
from isp.pipeline import PipelineParams, develop_band, even_tiling

#: A result record: band number (-1 for a worker's error) and payload length, then the payload.
_HEADER = struct.Struct("<iI")
_BAND = struct.Struct("<I")


def can_fork() -> bool:
    """Whether bands may go to forked processes: POSIX, and no other thread in this process."""
    return hasattr(os, "fork") and threading.active_count() == 1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _worker(raw: np.ndarray, params: PipelineParams, starts: list[int], h: int, tile_cols: int,
            finish: Callable[[np.ndarray], bytes], tasks: int, results: int) -> None:
    """A forked worker's whole life: take band numbers until the pipe is empty, send results."""
    code = 0
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it, not us
        reuse_freed_memory()
        while len(task := os.read(tasks, _BAND.size)) == _BAND.size:
            (i,) = _BAND.unpack(task)
            y0 = starts[i]
            y1 = starts[i + 1] if i + 1 < len(starts) else h
            payload = finish(develop_band(raw, params, y0, y1, tile_cols))
            _write_all(results, _HEADER.pack(i, len(payload)) + payload)
    except BaseException:  # noqa: BLE001 - whatever it was, the parent must hear of it
        message = traceback.format_exc().encode()
        try:
            _write_all(results, _HEADER.pack(-1, len(message)) + message)
        finally:
            code = 1
    finally:
        os._exit(code)


def map_bands(
    raw: np.ndarray,
    params: PipelineParams,
    finish: Callable[[np.ndarray], bytes],
    strip_rows: int,
    tile_cols: int,
    workers: int | None = None,
) -> list[memoryview]:
    """``finish(rows)`` of every band of ``strip_rows`` rows (uint8 (rows, W, 3)), top to bottom,
    each band developed in a forked worker (``workers`` of them, default one per CPU).

    Only call this where :func:`can_fork` is true. A worker's exception comes back as
    :class:`isp.exc.IspError` with its traceback; a worker that dies without a word too.
    """
    strip_rows, tile_cols = even_tiling(strip_rows, tile_cols)
    h = raw.shape[0]
    starts = list(range(0, h, strip_rows))
    n = max(1, min(workers or os.cpu_count() or 1, len(starts)))
    tasks_r, tasks_w = os.pipe()
    _write_all(tasks_w, b"".join(_BAND.pack(i) for i in range(len(starts))))
    os.close(tasks_w)  # readers see the end of the pipe once the numbers are taken
    children: dict[int, int] = {}  # result pipe -> pid
    done = False
    try:
        for _ in range(n):
            results_r, results_w = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no more processes: what was started is stopped below
                os.close(results_r)
                os.close(results_w)
                raise
            if pid == 0:  # pragma: no cover - runs in the child, which leaves with os._exit
                os.close(results_r)
                for fd in children:
                    os.close(fd)
                _worker(raw, params, starts, h, tile_cols, finish, tasks_r, results_w)
            os.close(results_w)
            children[results_r] = pid
        bands = _collect(children, len(starts))
        done = True
        return bands
    finally:
        os.close(tasks_r)
        for fd, pid in children.items():
            if not done:  # an error or an interrupt here: stop the others' work
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):  # reaped already (SIGCHLD ignored)
                os.waitpid(pid, 0)
            os.close(fd)


def _collect(children: dict[int, int], bands: int) -> list[memoryview]:
    """Read every worker's result pipe to its end; the bands in order (views of what was read:
    a JPEG band is copied once here, and once more into the joined JPEG)."""
    chunks: dict[int, list[bytes]] = {fd: [] for fd in children}
    with selectors.DefaultSelector() as sel:
        for fd in children:
            sel.register(fd, selectors.EVENT_READ)
        open_fds = len(children)
        while open_fds:
            for key, _ in sel.select():
                chunk = os.read(key.fd, 1 << 20)
                if chunk:
                    chunks[key.fd].append(chunk)
                else:
                    sel.unregister(key.fd)
                    open_fds -= 1
    out: dict[int, memoryview] = {}
    for fd, parts in chunks.items():
        buf = memoryview(b"".join(parts))
        at = 0
        while at + _HEADER.size <= len(buf):
            i, length = _HEADER.unpack_from(buf, at)
            payload = buf[at + _HEADER.size : at + _HEADER.size + length]
            at += _HEADER.size + length
            if i < 0:
                message = bytes(payload).decode(errors="replace")
                raise IspError(f"a develop worker (pid {children[fd]}) failed:\n{message}")
            out[i] = payload
    missing = [i for i in range(bands) if i not in out]
    if missing:
        raise IspError(f"develop workers ended without bands {missing} (killed, or out of memory?)")
    return [out[i] for i in range(bands)]
