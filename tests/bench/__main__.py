"""Run every benchmark module (``python -m tests.bench [NAME ...]``)."""

import importlib
import pkgutil
import sys
import time
from pathlib import Path

#: Reference data beside the checkout; benchmarks that need it skip with a note when absent.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    for name in names:
        print(f"\n=== {name}", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"tests.bench.{name}").main()
        print(f"--- {name} took {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
