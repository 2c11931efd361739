"""Soak: several live viewers, periodic captures and deletes, for a bounded time; the server's
memory, open files and threads must stay flat.

``mrig serve --camera virtual`` runs in a subprocess (logged in like a phone). ``VIEWERS`` MJPEG
viewers read the stream (reconnecting when it ends), one client polls ``/api/status`` and
``/api/live``, and every ``CAPTURE_EVERY_S`` a capture is taken and the oldest photos beyond the
newest three are deleted. Every ``SAMPLE_S`` the server's RSS, open file descriptors and threads
are read from ``/proc/<pid>``. The report compares the median of the first and last thirds of
the run (after a warm-up) and gives the maxima. Duration: ``MRIG_SOAK_S`` (default 180 s).
Needs no reference data. ``python -m tests.bench soak``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.crash_harness import Server, set_password

VIEWERS = 4
CAPTURE_EVERY_S = 20.0
SAMPLE_S = 5.0
WARM_UP_S = 30.0
FLAT_RSS = 1.10
"""Last third within 10 % of the first third counts as flat (allocator noise and caches)."""


def _proc(pid: int) -> tuple[float, int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_mib = int(fields["VmRSS"].split()[0]) / 1024
    threads = int(fields["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_mib, fds, threads


def _viewer(server: Server, cookies, stop: threading.Event, counts: list[int], i: int) -> None:
    with httpx.Client(base_url=server.base_url, cookies=cookies, timeout=30) as c:
        while not stop.is_set():
            try:
                with c.stream("GET", "/api/stream.mjpg") as r:
                    if r.status_code != 200:
                        time.sleep(0.5)
                        continue
                    for chunk in r.iter_bytes():
                        counts[i] += chunk.count(b"--mrigframe")
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                time.sleep(0.5)


def main() -> None:
    duration_s = float(os.environ.get("MRIG_SOAK_S", "180"))
    with tempfile.TemporaryDirectory(prefix="mrig-soak-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        set_password(data)
        server = Server(data, Path(tmp) / "serve.log")
        try:
            _soak(server, duration_s)
        finally:
            server.stop()


def _soak(server: Server, duration_s: float) -> None:
    client = server.client()
    stop = threading.Event()
    counts = [0] * VIEWERS
    viewers = [threading.Thread(target=_viewer, args=(server, client.cookies, stop, counts, i),
                                daemon=True) for i in range(VIEWERS)]
    for v in viewers:
        v.start()
    samples: list[tuple[float, float, int, int]] = []
    captures = deletes = errors = polls = 0
    t0 = time.monotonic()
    next_capture = t0 + 5.0
    next_sample = t0
    while (now := time.monotonic()) - t0 < duration_s:
        if now >= next_sample:
            samples.append((now - t0, *_proc(server.proc.pid)))
            next_sample += SAMPLE_S
        if now >= next_capture:
            r = client.post("/api/capture", json={"format": "both"})
            captures += r.status_code == 200
            errors += r.status_code != 200
            items = client.get("/api/photos", params={"limit": 500}).json()["items"]
            for item in items[3:]:
                deletes += client.delete(f"/api/photos/{item['name']}").status_code == 200
            next_capture = time.monotonic() + CAPTURE_EVERY_S
        for path in ("/api/status", "/api/live?map=false"):
            r = client.get(path)
            polls += 1
            errors += r.status_code >= 500
        time.sleep(1.0)
    stop.set()
    for v in viewers:
        v.join(10)
    _report(samples, counts, captures, deletes, polls, errors, duration_s)


def _report(samples, counts, captures, deletes, polls, errors, duration_s) -> None:
    steady = [s for s in samples if s[0] >= WARM_UP_S] or samples
    third = max(1, len(steady) // 3)
    first, last = steady[:third], steady[-third:]
    print(f"duration {duration_s:.0f} s, {VIEWERS} MJPEG viewers, {captures} captures "
          f"(DNG+JPEG), {deletes} deletes, {polls} status/live polls, {errors} errors (5xx or "
          f"failed captures)")
    print("frames received per viewer: " + ", ".join(str(c) for c in counts)
          + f" (~{statistics.mean(counts) / duration_s:.1f} fps each)")
    print(f"{'':14}{'first third':>12}{'last third':>12}{'max':>8}   (after {WARM_UP_S:.0f} s "
          f"warm-up, {len(steady)} samples every {SAMPLE_S:.0f} s)")
    verdicts = []
    for col, name, unit in ((1, "RSS", "MiB"), (2, "open files", ""), (3, "threads", "")):
        a = statistics.median(s[col] for s in first)
        b = statistics.median(s[col] for s in last)
        peak = max(s[col] for s in samples)
        print(f"{name + (' ' + unit if unit else ''):14}{a:12.1f}{b:12.1f}{peak:8.1f}")
        flat = b <= a * FLAT_RSS if col == 1 else b <= a + 2
        verdicts.append(f"{name} {'flat' if flat else 'GROWING'}")
    print("RSS MiB over time: " + " ".join(f"{s[0]:.0f}s:{s[1]:.0f}" for s in samples))
    print("verdict: " + ", ".join(verdicts))


if __name__ == "__main__":
    main()
