"""Bands of a frame developed on forked worker processes: the pipeline without the GIL.

Why processes: a tile is some thousands of numpy calls, and between two calls a thread needs the
GIL. With one thread per CPU a full frame takes 1.2 to 1.3 times as long as on as many forked
workers (``python -m tests.bench bench_isp`` prints both), which share nothing but the memory
bus. ``fork`` gives every worker the raw frame copy-on-write, so nothing is sent
to them, and each sends back what ``finish`` makes of a band (a JPEG band: some 0.3 MB).

Work is handed out through a pipe of tasks, written before the fork: every read of eight bytes
takes one (reads of a pipe are atomic, and only whole tasks are in it), so a worker that is
slowed down simply takes fewer. A task is a whole band, or, for the last bands, one tile of a
band: the workers then end within a tile's time of each other, not a band's. A tiled band's
pixels come back to this process, which joins and finishes it while the workers go on.

Forking a process that runs other threads is unsafe (a lock one of them holds stays locked in
the child forever), so :func:`can_fork` says whether this process may; callers fall back to
threads otherwise. Workers leave with ``os._exit``: no atexit handlers, no flushing of buffers
they inherited.
"""

from __future__ import annotations

import contextlib
import fcntl
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
from isp.pipeline import PipelineParams, develop_band, develop_tile, even_tiling

#: A task: band number and first column of one of its tiles (-1: the whole band).
_TASK = struct.Struct("<ii")
#: A result record: band number (-1 for a worker's error), tile column (-1: a finished band)
#: and payload length, then the payload: what ``finish`` made of a band, or a tile's pixels.
_HEADER = struct.Struct("<iiI")
#: Pipe capacity asked for the results (Linux; 1 MiB is the usual unprivileged maximum): a
#: worker sending a tile (some 0.6 MB) then seldom waits while the parent finishes a band.
_PIPE_BYTES = 1 << 20


def can_fork() -> bool:
    """Whether bands may go to forked processes: POSIX, and no other thread in this process."""
    return hasattr(os, "fork") and threading.active_count() == 1


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, n: int) -> bytearray | None:
    """``n`` bytes from ``fd``, or ``None`` if it ends first (a worker that died mid-record)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            return None
        got += k
    return buf


def _read_record(fd: int) -> tuple[int, int, bytearray] | None:
    """The next result record (band, tile column, payload), or ``None`` at the pipe's end."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    i, x0, length = _HEADER.unpack(header)
    payload = _read_exactly(fd, length)
    return None if payload is None else (i, x0, payload)


def _worker(raw: np.ndarray, params: PipelineParams, starts: list[int], h: int, tile_cols: int,
            finish: Callable[[np.ndarray], bytes], tasks: int, results: int) -> None:
    """A forked worker's whole life: take tasks until the pipe is empty, send results."""
    code = 0
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports it, not us
        reuse_freed_memory()
        w = raw.shape[1]
        while len(task := os.read(tasks, _TASK.size)) == _TASK.size:
            i, x0 = _TASK.unpack(task)
            y0 = starts[i]
            y1 = starts[i + 1] if i + 1 < len(starts) else h
            if x0 < 0:
                payload: bytes | memoryview = finish(develop_band(raw, params, y0, y1, tile_cols))
            else:
                x1 = min(x0 + tile_cols, w)
                pixels = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
                develop_tile(raw, params, y0, y1, x0, x1, pixels)
                payload = memoryview(pixels).cast("B")
            _write_all(results, _HEADER.pack(i, x0, len(payload)))
            _write_all(results, payload)
    except BaseException:  # noqa: BLE001 - whatever it was, the parent must hear of it
        message = traceback.format_exc().encode()
        try:
            _write_all(results, _HEADER.pack(-1, -1, len(message)) + message)
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
) -> list[bytes | bytearray]:
    """``finish(rows)`` of every band of ``strip_rows`` rows (uint8 (rows, W, 3)), top to bottom,
    each band developed in a forked worker (``workers`` of them, default one per CPU).

    The last ``workers`` bands are handed out as tiles instead, so the workers end within a
    tile's time of each other rather than a band's (measured on a 12 MP frame in bands of 384
    rows with whole bands only: one worker idled 8 to 144 ms at the end); ``finish`` runs on
    those bands in this process, as their tiles arrive.

    Only call this where :func:`can_fork` is true. A worker's exception comes back as
    :class:`isp.exc.IspError` with its traceback; a worker that dies without a word too.
    """
    strip_rows, tile_cols = even_tiling(strip_rows, tile_cols)
    h, w = raw.shape
    starts = list(range(0, h, strip_rows))
    n = max(1, min(workers or os.cpu_count() or 1, len(starts)))
    tiled = range(len(starts) - n, len(starts)) if n > 1 else range(0)
    tile_x0s = range(0, w, tile_cols)
    tasks = [(i, -1) for i in range(len(starts)) if i not in tiled]
    tasks += [(i, x0) for i in tiled for x0 in tile_x0s]
    tasks_r, tasks_w = os.pipe()
    _write_all(tasks_w, b"".join(_TASK.pack(*t) for t in tasks))
    os.close(tasks_w)  # readers see the end of the pipe once the tasks are taken
    children: dict[int, int] = {}  # result pipe -> pid
    done = False
    try:
        for _ in range(n):
            results_r, results_w = os.pipe()
            with contextlib.suppress(OSError, AttributeError):  # a small pipe only costs waits
                fcntl.fcntl(results_w, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
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
        bands = _collect(children, _Bands(starts, h, w, tiled, len(tile_x0s), finish))
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


class _Bands:
    """The finished bands as they arrive, and the tiled bands' pixels until they are whole."""

    def __init__(self, starts: list[int], h: int, w: int, tiled: range, tiles_per_band: int,
                 finish: Callable[[np.ndarray], bytes]) -> None:
        self.count = len(starts)
        self.finish = finish
        self.done: dict[int, bytes | bytearray] = {}
        ends = [*starts[1:], h]
        self.pixels = {i: np.empty((ends[i] - starts[i], w, 3), np.uint8) for i in tiled}
        self.tiles_left = dict.fromkeys(tiled, tiles_per_band)

    def add(self, i: int, x0: int, payload: bytearray) -> None:
        if x0 < 0:
            self.done[i] = payload
            return
        band = self.pixels[i]
        rows = band.shape[0]
        tile = np.frombuffer(payload, np.uint8).reshape(rows, -1, 3)
        band[:, x0 : x0 + tile.shape[1]] = tile
        self.tiles_left[i] -= 1
        if self.tiles_left[i] == 0:  # whole: finished here while the workers go on
            self.done[i] = self.finish(self.pixels.pop(i))

    def in_order(self) -> list[bytes | bytearray]:
        missing = [i for i in range(self.count) if i not in self.done]
        if missing:
            raise IspError(f"develop workers ended without bands {missing} (killed, or out of memory?)")
        return [self.done[i] for i in range(self.count)]


def _collect(children: dict[int, int], bands: _Bands) -> list[bytes | bytearray]:
    """Read every worker's results to the end of its pipe; the bands in order. A record is read
    whole once its header is there (a worker makes the whole record before it writes any)."""
    with selectors.DefaultSelector() as sel:
        for fd in children:
            sel.register(fd, selectors.EVENT_READ)
        open_fds = len(children)
        while open_fds:
            for key, _ in sel.select():
                record = _read_record(key.fd)
                if record is None:  # the worker is done (or died mid-record)
                    sel.unregister(key.fd)
                    open_fds -= 1
                    continue
                i, x0, payload = record
                if i < 0:
                    message = payload.decode(errors="replace")
                    raise IspError(f"a develop worker (pid {children[key.fd]}) failed:\n{message}")
                bands.add(i, x0, payload)
    return bands.in_order()
