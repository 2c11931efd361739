"""Crash safety, at length: SIGKILL ``mrig serve --camera virtual`` at random points of a capture
loop a few hundred times (``MRIG_CRASH_KILLS``, default 200); after every restart each listed
photo must download and decode. Reports the kills, the captures confirmed before kills and the
files decoded. Needs no reference data. ``python -m tests.bench crash``."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.crash_harness import crash_loop


def main() -> None:
    kills = int(os.environ.get("MRIG_CRASH_KILLS", "200"))
    t0 = time.monotonic()

    def progress(k, report):
        if k % 10 == 0 or k == kills:
            print(f"  {k}/{kills} kills, {report.files_checked} file decodes so far, "
                  f"{time.monotonic() - t0:.0f} s", flush=True)

    with tempfile.TemporaryDirectory(prefix="mrig-crash-") as tmp:
        report = crash_loop(Path(tmp) / "data", kills, seed=2026, log=Path(tmp) / "serve.log",
                            progress=progress, keep=4)
    print(f"kills: {report.kills} (kill points {min(report.kill_times_s, default=0):.2f}.."
          f"{max(report.kill_times_s, default=0):.2f} s into the capture loop)")
    print(f"captures confirmed by the API before a kill: {report.completed_before_kill}")
    print(f"photo files downloaded and decoded after restarts: {report.files_checked} "
          "(all decoded; a failure would have raised)")
    print(f"temporary files seen after restarts: {report.leftover_temp_files_after_restart}")
    print(f"wall time: {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
