"""Crash safety (issue 7, and the shot pipeline of issue 16): SIGKILL a real ``mrig serve`` at
random points of a capture loop, the develop and the spool included; after every restart each
acknowledged shot is there, each photo it lists downloads and decodes (rawpy for DNG,
libjpeg-turbo for JPEG) and no temporary or spool file is left. A few kills here; ``tests/bench/bench_crash_safety.py``
does a few hundred."""

from __future__ import annotations

import os

from tests.crash_harness import crash_loop

KILLS = int(os.environ.get("MRIG_CRASH_KILLS", "3"))


def test_sigkill_during_captures_never_leaves_a_broken_photo(tmp_path):
    report = crash_loop(tmp_path / "data", KILLS, seed=7, formats=("dng", "jpeg"),
                        log=tmp_path / "serve.log")
    assert report.kills == KILLS
    assert report.leftover_temp_files_after_restart == 0
    # Every capture the API confirmed is still there and decodes (verify() decoded them all),
    # its JPEG too once the restarted server developed the spool; a capture killed half-way
    # is either complete or absent, never listed broken.
    assert report.files_checked >= report.acknowledged_files >= 2, report
