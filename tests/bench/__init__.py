"""Benchmarks, run by ``make bench``: each ``bench_*.py`` module here has a ``main() -> None``
that measures side by side against the reference its issue names and prints ratios.
They may use ``../shared/data`` and say so when it is missing; tests never do."""
