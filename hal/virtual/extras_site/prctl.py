"""``prctl.set_pdeathsig`` for picamera2 where python-prctl is not installed.

picamera2 0.3.38 imports python-prctl at import time, for one call: ``ffmpegoutput.py`` starts
ffmpeg with ``preexec_fn=lambda: prctl.set_pdeathsig(signal.SIGKILL)``. python-prctl is a C
extension that builds from source only, against libcap's headers (Debian ``libcap-dev``). The
virtual setup does not need a compiler: this module makes the same system call through ctypes,
``prctl(PR_SET_PDEATHSIG, sig)`` (``PR_SET_PDEATHSIG`` = 1, linux ``include/uapi/linux/prctl.h``;
prctl(2)). It sits at the *end* of ``sys.path`` in the virtual setup only, so an installed
python-prctl (apt's ``python3-prctl`` on a Pi) always wins.
"""

import ctypes
import ctypes.util
import os

PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def set_pdeathsig(signal_number: int) -> None:
    """Ask the kernel to send ``signal_number`` to this process when its parent dies."""
    if _libc.prctl(PR_SET_PDEATHSIG, int(signal_number), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
