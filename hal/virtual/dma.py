"""Camera buffers for the virtual setup: memfds in place of the Pi's DMA heap.

picamera2 allocates every stream buffer itself (``picamera2/allocators/dmaallocator.py``):
``DmaHeap.alloc`` asks ``/dev/dma_heap/vidbuf_cached`` or ``linux,cma`` for a dma-buf of the
frame size, maps it with ``mmap``, and brackets each CPU access with ``DMA_BUF_IOCTL_SYNC``
start/end (``DmaSync``). A machine without a camera has no DMA heap, so in the virtual setup
only, :func:`point_picamera2_at_memfds` swaps two names inside that module:

- ``DmaHeap`` becomes :class:`MemfdHeap`, whose ``alloc`` returns a sealed-size memfd that
  picamera2 maps and hands to libcamera exactly as it would a dma-buf, charged against the
  rig's CMA budget, so an over-large configuration fails as on a Pi (``alloc`` returns an
  invalid fd and picamera2 raises "failed to allocate capture buffers");
- ``fcntl`` becomes :class:`DmaBufIoctl`, which answers ``DMA_BUF_IOCTL_SYNC`` and
  ``DMA_BUF_SET_NAME`` on those memfds (memory shared by CPU threads needs no cache
  maintenance) and passes every other call to the real ``fcntl``. It counts sync starts and
  ends, so tests can check that every access was bracketed.

Everything else in picamera2's allocator, mapping and request code runs unchanged.
"""

from __future__ import annotations

import fcntl as _fcntl
import os
import threading
from typing import Any

from hal.virtual.rig import VirtualRig


class UniqueFD:
    """Shaped like picamera2's ``dma_heap.UniqueFD``."""

    def __init__(self, fd: int = -1) -> None:
        self._fd = fd

    def release(self) -> int:
        fd, self._fd = self._fd, -1
        return fd

    def get(self) -> int:
        return self._fd

    def isValid(self) -> bool:  # noqa: N802 - picamera2's spelling
        return self._fd >= 0


class MemfdHeap:
    """A DMA heap made of memfds, charged against the installed rig's CMA."""

    rig: VirtualRig | None = None
    #: Size of each buffer by the fd picamera2 holds, for the ioctls below.
    sizes: dict[int, int] = {}

    def __init__(self) -> None:
        from hal.virtual.rig import installed

        self._rig = type(self).rig or installed()

    @property
    def isValid(self) -> bool:  # noqa: N802
        return True

    def alloc(self, name: str, size: int) -> UniqueFD:
        release_unused()
        if not self._rig.cma_allocate(size):
            return UniqueFD()
        fd = os.memfd_create(f"{MEMFD_PREFIX}{name}", os.MFD_CLOEXEC)
        os.ftruncate(fd, size)
        with _lock:
            MemfdHeap.sizes[fd] = size
            _charged[os.fstat(fd).st_ino] = (size, self._rig)
        return UniqueFD(fd)

    def close(self) -> None:
        pass


MEMFD_PREFIX = "mrig-camera-"
_lock = threading.Lock()
#: CMA charged per buffer (memfd inode), until neither an fd nor a mapping holds it.
_charged: dict[int, tuple[int, VirtualRig]] = {}


def release_unused() -> None:
    """Give back the CMA of buffers nothing holds any more. A memfd's pages live while an fd
    or a mapping refers to them, as a dma-buf's do; picamera2 closes its fds and mappings when
    it reallocates or closes, at its own pace, so the holders are read from ``/proc``."""
    held: set[int] = set()
    with os.scandir("/proc/self/fd") as entries:
        for entry in entries:
            try:
                if os.readlink(entry.path).startswith(f"/memfd:{MEMFD_PREFIX}"):
                    held.add(os.stat(entry.path).st_ino)
            except OSError:
                continue
    with open("/proc/self/maps") as maps:
        for line in maps:
            if f"/memfd:{MEMFD_PREFIX}" in line:
                held.add(int(line.split()[4]))
    with _lock:
        for inode in [i for i in _charged if i not in held]:
            size, rig = _charged.pop(inode)
            rig.cma_free(size)
        for fd in list(MemfdHeap.sizes):
            try:
                os.fstat(fd)
            except OSError:
                MemfdHeap.sizes.pop(fd, None)


class DmaBufIoctl:
    """``fcntl`` for picamera2's allocator module: dma-buf ioctls on our memfds, the rest real."""

    def __init__(self) -> None:
        from picamera2.dma_heap import DMA_BUF_IOCTL_SYNC, DMA_BUF_SET_NAME, DMA_BUF_SYNC_END

        self._sync = DMA_BUF_IOCTL_SYNC
        self._set_name = DMA_BUF_SET_NAME
        self._end = DMA_BUF_SYNC_END
        self.starts = 0
        self.ends = 0
        self._lock = threading.Lock()

    def ioctl(self, fd: Any, request: int, arg: Any = 0, mutate_flag: bool = True) -> Any:
        number = fd if isinstance(fd, int) else fd.fileno()
        if number in MemfdHeap.sizes and request in (self._sync, self._set_name):
            if request == self._sync:
                with self._lock:
                    if arg.flags & self._end:
                        self.ends += 1
                    else:
                        self.starts += 1
            return 0
        return _fcntl.ioctl(fd, request, arg, mutate_flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(_fcntl, name)


_ioctl: DmaBufIoctl | None = None


def point_picamera2_at_memfds(rig: VirtualRig) -> DmaBufIoctl:
    """Swap the DMA heap and dma-buf ioctls in picamera2's allocator module (virtual setup only)."""
    global _ioctl
    from picamera2.allocators import dmaallocator

    MemfdHeap.rig = rig
    dmaallocator.DmaHeap = MemfdHeap
    if _ioctl is None:
        _ioctl = DmaBufIoctl()
    dmaallocator.fcntl = _ioctl
    return _ioctl
