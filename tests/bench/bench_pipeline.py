"""The shot pipeline against its goals (issue 16), on a real ``mrig serve --camera virtual``.

- press → acknowledged (DNG+JPEG), median and p95, presses a second apart; goal ≤ 250 ms median;
- ten presses in a row (the page's taps, 300 ms apart): all kept, first press to last answer;
- a burst of ten at full resolution: cadence from the frames' SensorTimestamps (the job's
  ``shutter_lag_ms`` are exposure starts relative to the press) against the sensor's frame
  time; goal ≤ 1.2×;
- the server's JPEG develop (its develop process, round trip) against ``mrig develop``'s
  (:func:`jpeg_from_dng` in a fresh process), on the same DNG, fresh processes interleaved,
  wall and CPU; goal ≤ 1.05×;
- peak memory (server + develop process + band workers, RSS) while a ten-shot queue drains,
  with the buffer sized as on a 1 GB Pi (7 raws), against that Pi's budget.

Times are this machine's (2 cores, shared); the ratios are what carries over.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from firmware.capture.developer import DevelopProcess
from firmware.capture.pipeline import FRAME_BYTES, RESERVED_BYTES, buffer_frames_for
from tests.crash_harness import ROOT, Server, set_password, wait_developed

MIB = 1024 * 1024
ROUNDS = 5
PI_1GB_MEMTOTAL = 910 * MIB


def _server(root: Path, buffer_frames: int = 0) -> Server:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    set_password(data)
    config = root / "config.toml"
    config.write_text(f"[storage]\nbuffer_frames = {buffer_frames}\n[gpio]\nenabled = false\n")
    return Server(data, root / "serve.log", config)


def _press_latency(client) -> list[float]:
    times = []
    for _ in range(12):
        t0 = time.perf_counter()
        r = client.post("/api/capture", json={"format": "both"})
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        time.sleep(1.0)
    wait_developed(client)
    return times[2:]  # the first two start the develop process and warm the caches


def _ten_taps(client) -> tuple[list[int], float]:
    codes: list[int] = []
    ends: list[float] = []

    def press() -> None:
        r = client.post("/api/capture", json={"format": "both"})
        codes.append(r.status_code)
        ends.append(time.perf_counter())

    threads = []
    t0 = time.perf_counter()
    for _ in range(10):
        threads.append(threading.Thread(target=press))
        threads[-1].start()
        time.sleep(0.3)
    for t in threads:
        t.join()
    return codes, max(ends) - t0


def _burst(client) -> tuple[list[float], int]:
    job = client.post("/api/capture", json={"mode": "burst", "frames": 10, "format": "dng"}).json()
    while job["state"] not in ("done", "failed", "cancelled"):
        time.sleep(0.1)
        job = client.get(f"/api/jobs/{job['id']}").json()
    lags = job["shutter_lag_ms"]
    modes = client.get("/api/camera").json()["modes"]
    full = max(modes, key=lambda m: m["size"][0] * m["size"][1])
    frame_us = 1e6 / full["max_fps"]
    return [b - a for a, b in zip(lags, lags[1:], strict=False)], frame_us


def _pss_of_tree(pid: int) -> tuple[int, int]:
    """Proportional set size (a page shared by n processes counts 1/n in each, so forked band
    workers sharing the raw are not counted twice) of a process, and of its descendants."""
    def pss(p: int) -> int:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def children(p: int) -> list[int]:
        """Children of every thread of ``p`` (the develop process is started by a thread)."""
        found = []
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    found += [int(c) for c in f.read().split()]
        except OSError:
            pass
        return found

    below, todo = 0, children(pid)
    while todo:
        p = todo.pop()
        below += pss(p)
        todo += children(p)
    return pss(pid), below


def _queue_memory(root: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """(server, develop processes) PSS at rest and at their peaks while ten taps drain."""
    frames = buffer_frames_for(PI_1GB_MEMTOTAL)
    server = _server(root / "memory", buffer_frames=frames)
    try:
        client = server.client()
        client.post("/api/capture", json={"format": "both"}).raise_for_status()
        wait_developed(client)  # the develop process is up, as in a server that has shot
        time.sleep(1.0)
        idle = _pss_of_tree(server.proc.pid)
        peak = list(idle)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                now = _pss_of_tree(server.proc.pid)
                peak[0], peak[1] = max(peak[0], now[0]), max(peak[1], now[1])
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        codes, _ = _ten_taps(client)
        wait_developed(client)
        stop.set()
        sampler.join()
        print(f"  ten taps with a {frames}-raw buffer: answers {sorted(codes)}")
        return idle, (peak[0], peak[1])
    finally:
        server.stop()


_MRIG_DEVELOP = """
import json, resource, sys, time
from pathlib import Path
from firmware.capture.develop import jpeg_from_dng
def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
c0, t0 = cpu(), time.perf_counter()
jpeg = jpeg_from_dng(Path(sys.argv[1]))
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": cpu() - c0, "size": len(jpeg)}))
"""


def _develop_side_by_side(dng: Path) -> tuple[list[float], list[float], list[float], list[float]]:
    cli_wall, cli_cpu, srv_wall, srv_cpu = [], [], [], []
    for _ in range(ROUNDS):
        out = subprocess.run([sys.executable, "-c", _MRIG_DEVELOP, str(dng)], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out)
        cli_wall.append(r["wall"])
        cli_cpu.append(r["cpu"])
        proc = DevelopProcess()
        proc.start()
        time.sleep(1.0)  # the process has started and imported (as in a running server)
        t0 = time.perf_counter()
        proc.develop(dng)
        srv_wall.append(time.perf_counter() - t0)
        srv_cpu.append(proc.last_cpu_s)
        proc.close()
    return cli_wall, cli_cpu, srv_wall, srv_cpu


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = _server(root / "serve")
        try:
            client = server.client()
            latency = _press_latency(client)
            codes, span = _ten_taps(client)
            wait_developed(client)
            gaps, frame_us = _burst(client)
            dng_name = client.get("/api/photos").json()["items"][0]["files"][0]
        finally:
            server.stop()
        dng = root / "serve" / "data" / "photos" / dng_name
        q = statistics.quantiles(latency, n=20)
        print(f"  press → acknowledged (DNG+JPEG, {len(latency)} presses 1 s apart): "
              f"median {statistics.median(latency):.0f} ms, p95 {q[18]:.0f} ms (goal ≤ 250 ms median)")
        print(f"  ten taps 300 ms apart: answers {sorted(codes)}, first press to last answer "
              f"{span:.2f} s")
        ratio = statistics.median(gaps) / (frame_us / 1000)
        print(f"  burst of ten: frame starts {min(gaps):.1f}–{max(gaps):.1f} ms apart, median "
              f"{statistics.median(gaps):.1f} ms; sensor frame time {frame_us / 1000:.1f} ms: "
              f"{ratio:.2f}× (goal ≤ 1.2×)")
        cli_wall, cli_cpu, srv_wall, srv_cpu = _develop_side_by_side(dng)
        print(f"  JPEG develop of one 12 MP DNG, {ROUNDS} rounds interleaved, median: "
              f"mrig develop {statistics.median(cli_wall):.2f} s wall / "
              f"{statistics.median(cli_cpu):.2f} s CPU; the server's develop process "
              f"{statistics.median(srv_wall):.2f} s / {statistics.median(srv_cpu):.2f} s: "
              f"{statistics.median(srv_wall) / statistics.median(cli_wall):.3f}× wall, "
              f"{statistics.median(srv_cpu) / statistics.median(cli_cpu):.3f}× CPU (goal ≤ 1.05×)")
        (idle_server, idle_dev), (peak_server, peak_dev) = _queue_memory(root)
        frames = buffer_frames_for(PI_1GB_MEMTOTAL)
        print(f"  memory (PSS) while ten shots drain, a {frames}-raw buffer as on a 1 GB Pi: "
              f"server {idle_server / MIB:.0f} MiB at rest, {peak_server / MIB:.0f} MiB peak "
              f"(+{(peak_server - idle_server) / MIB:.0f}; the buffer is {frames * FRAME_BYTES / MIB:.0f} "
              f"MiB); develop process and band workers {idle_dev / MIB:.0f} MiB at rest, "
              f"{peak_dev / MIB:.0f} MiB peak. The server's rest includes the virtual camera "
              f"(its sensor renders and buffers), which on a Pi is libcamera's CMA instead. "
              f"A 1 GB Pi: MemTotal {PI_1GB_MEMTOTAL / MIB:.0f} MiB, "
              f"{RESERVED_BYTES // MIB} MiB kept for the system and mrig's processes.")


if __name__ == "__main__":
    main()
