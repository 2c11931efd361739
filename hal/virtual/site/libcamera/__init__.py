"""The virtual libcamera: the ``libcamera`` module picamera2 imports, in pure Python.

This folder is put on ``sys.path`` by :func:`hal.virtual.install` only, for ``--camera
virtual``; it is never installed, so on a Pi the real libcamera from apt is never shadowed.
Like the real bindings (libcamera ``src/py/libcamera/__init__.py``), the package re-exports
``_libcamera``, where the types live; ``controls`` and ``properties`` are its submodules.
Behind the types is :mod:`hal.virtual.pipeline`, which plays the Raspberry Pi pipeline handler
and IPA for the HQ camera.
"""

from ._libcamera import *  # noqa: F403 - the bindings' own layout
from ._libcamera import controls, properties  # noqa: F401
