"""The pipeline's compiled stages (``isp/kernels.c``, loaded by ``isp/compiled.py`` with ctypes);
everything else about the package is in pyproject.toml.

Plain C, no Python or numpy headers. Optional: where no C compiler is found mrig installs
anyway, and its numpy stages run (``mrig selftest`` says which). ``-ffp-contract=off``: the
compiled stages must round as numpy does, and a fused multiply-add rounds once where numpy
rounds twice. ``-fno-fast-math`` undoes a ``-ffast-math`` in the user's CFLAGS (which would reorder the float
arithmetic; the C refuses to build under it). ``-fno-wrapv`` undoes the ``-fwrapv`` Python's own flags add: with wrapping
signed integers GCC cannot tell how the loops' indices step, and leaves the noise reduction's
loops scalar (measured: 0.2 s a 12 MP frame more). ``-fno-math-errno``: the square roots are
of numbers never negative, and without it GCC calls the library's ``sqrtf`` for its errno
instead of using the processor's vector square root (both correctly rounded, as numpy's).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("isp._kernels", ["isp/kernels.c"], optional=True,
                             extra_compile_args=["-O3", "-ffp-contract=off", "-fno-wrapv", "-fno-fast-math",
                                                 "-fno-math-errno"],
                             libraries=["m"])])
