"""Drive modes with a simulated clock and a fake shooter: no test waits on wall time."""

import threading
import types

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from firmware.capture.drive import (
    BracketRequest,
    BurstRequest,
    DarkFrameRequest,
    DriveRequest,
    DriveRunner,
    IntervalRequest,
    LongExposureRequest,
    SingleRequest,
    bracket_exposures_us,
    subtract_dark,
)
from firmware.exc import DarkFrameUnusable, DriveBusy, JobNotFound, StorageFull
from hal.camera import FrameMetadata, RawFrame

S = 1_000_000_000  # ns per second


class FakeClock:
    """Monotonic time that ``sleep`` advances at once; ``at(t, fn)`` runs ``fn`` when the
    clock passes ``t`` seconds (to cancel a job from "another client" mid-run)."""

    def __init__(self):
        self.now = 0
        self.hooks = []

    def monotonic_ns(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(0, round(seconds * S))
        for hook in list(self.hooks):
            if self.now >= hook[0]:
                self.hooks.remove(hook)
                hook[1]()

    def at(self, seconds, fn):
        self.hooks.append((round(seconds * S), fn))


class FakeShooter:
    """Exposes for the requested time on the fake clock (in 1 s steps, abortable), returns a
    small raw frame, and "saves" by recording what it was given."""

    def __init__(self, clock, metered=(8000, 2.0), pixels=None):
        self.clock = clock
        self.metered = metered
        self.captures = []  # (time_s, exposure_time_us, gain)
        self.saved = []  # (raw, format)
        self.pixels = pixels
        self.fail_save = None
        self.on_step = None

    def metered_exposure(self):
        return self.metered

    def capture_raw(self, exposure_time_us, analogue_gain, cancel):
        self.captures.append((self.clock.now / S, exposure_time_us, analogue_gain))
        us = exposure_time_us or self.metered[0]
        gain = analogue_gain or self.metered[1]
        remaining = us / 1e6
        while remaining > 0 and not cancel.is_set():
            step = min(1.0, remaining)
            self.clock.sleep(step)
            remaining -= step
            if self.on_step:
                self.on_step()
        data = self.pixels.copy() if self.pixels is not None else np.full((4, 4), 300, np.uint16)
        meta = FrameMetadata(len(self.captures), self.clock.now, us, gain, (2.0, 1.6), 5000, us)
        return RawFrame(data, "BGGR", 256, 4095, 12, meta)

    can_burst = False

    def keep(self, raw, file_format, *, wait_for_room, cancel):
        """A shot already on the card (the pipeline has its own tests); ``fail_save`` is
        raised as the pipeline raises a refusal (buffer full, card full)."""
        if self.fail_save:
            raise self.fail_save
        self.saved.append((raw, file_format))
        n = len(self.saved)
        files = {"jpeg": [f"P{n}.jpg"], "dng": [f"P{n}.dng"],
                 "both": [f"P{n}.dng", f"P{n}.jpg"]}[file_format]
        saved = threading.Event()
        saved.set()
        return types.SimpleNamespace(files=files, error=None, saved=saved)


@pytest.fixture
def rig():
    clock = FakeClock()
    shooter = FakeShooter(clock)
    runner = DriveRunner(shooter, clock=clock)
    yield clock, shooter, runner
    runner.close()


def test_single_shot(rig):
    clock, shooter, runner = rig
    job = runner.run(SingleRequest(format="jpeg"))
    assert (job.state, job.files, job.frames_done, job.error) == ("done", ["P1.jpg"], 1, None)
    assert shooter.captures == [(0.0, None, None)]
    assert job.as_dict(clock.now)["progress"] == 1.0


@pytest.mark.parametrize("delay", [2, 10])
def test_self_timer(rig, delay):
    clock, shooter, runner = rig
    job = runner.run(SingleRequest(self_timer_s=delay))
    assert shooter.captures[0][0] == delay
    assert job.files == ["P1.dng", "P1.jpg"]


def test_burst(rig):
    _, shooter, runner = rig
    job = runner.run(BurstRequest(frames=5, format="dng"))
    assert len(shooter.captures) == 5 and job.frames_done == 5
    assert all(c[1:] == (None, None) for c in shooter.captures)
    assert job.files == [f"P{i}.dng" for i in range(1, 6)]


def test_bracket_by_shutter_time_holds_gain(rig):
    _, shooter, runner = rig
    runner.run(BracketRequest(frames=5, ev_step=1.0))
    assert [c[1] for c in shooter.captures] == [8000, 4000, 16000, 2000, 32000]
    assert {c[2] for c in shooter.captures} == {2.0}


def test_bracket_is_clamped_to_the_sensor():
    assert bracket_exposures_us(200, 5, 2.0, (114, 653_950_000)) == [200, 114, 800, 114, 3200]
    assert bracket_exposures_us(400_000_000, 3, 1.0, (114, 653_950_000)) == [
        400_000_000, 200_000_000, 653_950_000
    ]
    assert bracket_exposures_us(10_000, 7, 1 / 3, (114, 653_950_000)) == [
        10_000, 7937, 12599, 6300, 15874, 5000, 20000
    ]


def test_intervalometer_keeps_its_cadence(rig):
    _, shooter, runner = rig
    job = runner.run(IntervalRequest(interval_s=30, count=4, self_timer_s=2))
    assert [c[0] for c in shooter.captures] == [2, 32, 62, 92]
    assert job.state == "done" and len(job.files) == 8


def test_slow_frames_never_bunch_up(rig):
    _, shooter, runner = rig
    shooter.metered = (45_000_000, 1.0)  # each frame takes 45 s, the interval is 30 s
    runner.run(IntervalRequest(interval_s=30, count=3))
    times = [c[0] for c in shooter.captures]
    assert times == [0, 45, 90]


def test_intervalometer_runs_in_the_background_and_cancels(rig):
    clock, shooter, runner = rig
    clock.at(65, lambda: runner.cancel(runner.active.id))  # another client, mid-run
    job = runner.submit(IntervalRequest(interval_s=30, count=100))
    runner.wait(timeout_s=30)
    assert job.state == "cancelled"
    assert [c[0] for c in shooter.captures] == [0, 30, 60]
    assert job.frames_done == 3 and job.as_dict(clock.now)["progress"] == pytest.approx(0.03)


def test_long_exposure_progress_and_files(rig):
    clock, shooter, runner = rig
    seen = []
    shooter.on_step = lambda: seen.append(runner.active.as_dict(clock.now)["progress"])
    job = runner.run(LongExposureRequest(exposure_time_s=600, analogue_gain=1.0, format="dng"))
    assert shooter.captures == [(0.0, 600_000_000, 1.0)]
    assert seen[299] == pytest.approx(0.5)
    assert seen == sorted(seen) and max(seen) <= 0.99
    assert job.state == "done" and job.files == ["P1.dng"]


def test_long_exposure_cancel_discards_the_frame(rig):
    clock, shooter, runner = rig
    clock.at(120, lambda: runner.cancel(runner.active.id))
    job = runner.submit(LongExposureRequest(exposure_time_s=600))
    runner.wait(timeout_s=30)
    assert job.state == "cancelled" and job.files == [] and shooter.saved == []
    assert clock.now == 120 * S, "the abortable exposure stopped when cancelled"


def test_exposure_limits_are_the_sensors():
    adapter = TypeAdapter(DriveRequest)
    assert adapter.validate_python({"mode": "long", "exposure_time_s": 653.95}).exposure_time_s == 653.95
    for bad in (
        {"mode": "long", "exposure_time_s": 671},
        {"mode": "long", "exposure_time_s": 10, "analogue_gain": 30},
        {"mode": "bracket", "frames": 4},
        {"mode": "burst", "frames": 0},
        {"self_timer_s": 5},
        {"format": "png"},
        {"mode": "single", "frames": 3},
        {"mode": "timelapse"},
    ):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
    assert isinstance(adapter.validate_python({}), SingleRequest)
    assert isinstance(adapter.validate_python({"format": "jpeg"}), SingleRequest)
    interval = adapter.validate_python({"mode": "interval", "interval_s": 5, "count": 3})
    assert isinstance(interval, IntervalRequest)


def test_dark_frame_subtraction(rig):
    clock, shooter, runner = rig
    hot = np.full((4, 4), 256, np.uint16)
    hot[1, 2] = 3000  # a hot pixel, also in the light frame
    hot[0, 0] = 250   # read noise below black
    shooter.pixels = hot
    dark_job = runner.run(DarkFrameRequest(exposure_time_s=120, analogue_gain=2.0))
    assert dark_job.state == "done" and dark_job.files == [] and shooter.saved == []
    assert runner.dark_frame is not None
    light = hot.copy() + 500
    light[3, 3] = 4095
    shooter.pixels = light
    job = runner.run(LongExposureRequest(exposure_time_s=120, analogue_gain=2.0,
                                         subtract_dark=True))
    assert job.state == "done"
    raw, _ = shooter.saved[0]
    assert raw.black_level == 256
    assert raw.data[1, 2] == 756 and raw.data[2, 2] == 756  # hot pixel gone, signal kept
    assert raw.data[0, 0] == 756
    assert raw.data[3, 3] == 4095, "clipped to the white level"


def test_dark_frame_must_exist_and_match(rig):
    _, _, runner = rig
    with pytest.raises(DarkFrameUnusable, match="lens cap"):
        runner.run(LongExposureRequest(exposure_time_s=60, subtract_dark=True))
    runner.run(DarkFrameRequest(exposure_time_s=30))
    with pytest.raises(DarkFrameUnusable, match="30 s"):
        runner.run(LongExposureRequest(exposure_time_s=60, subtract_dark=True))
    with pytest.raises(DarkFrameUnusable):
        runner.run(LongExposureRequest(exposure_time_s=30, analogue_gain=4.0, subtract_dark=True))
    assert runner.run(LongExposureRequest(exposure_time_s=30, subtract_dark=True)).state == "done"


def test_subtract_dark_refuses_other_sizes():
    meta = FrameMetadata(0, 0, 1000, 1.0, (2.0, 1.6), 5000, 1000)
    light = RawFrame(np.zeros((4, 4), np.uint16), "BGGR", 256, 4095, 12, meta)
    dark = RawFrame(np.zeros((4, 6), np.uint16), "BGGR", 256, 4095, 12, meta)
    with pytest.raises(DarkFrameUnusable):
        subtract_dark(light, dark)


def test_a_failed_save_fails_the_job_not_the_runner(rig):
    _, shooter, runner = rig
    shooter.fail_save = StorageFull(28, "storage full: 0.1 MiB free")
    job = runner.run(BurstRequest(frames=3))
    assert job.state == "failed" and job.error == "storage full: 0.1 MiB free"
    assert job.frames_done == 0
    shooter.fail_save = None
    assert runner.run(SingleRequest()).state == "done"


def test_one_job_at_a_time_and_close_cancels(rig):
    clock, shooter, runner = rig
    release = threading.Event()
    started = threading.Event()

    def blocking_capture(exposure_time_us, analogue_gain, cancel):
        started.set()
        release.wait(10)
        return FakeShooter.capture_raw(shooter, exposure_time_us, analogue_gain, cancel)

    shooter.capture_raw = blocking_capture
    job = runner.submit(BurstRequest(frames=3))
    assert started.wait(10)
    assert runner.active is job and job.state == "running" and job.phase == "exposing"
    with pytest.raises(DriveBusy):
        runner.submit(SingleRequest())
    runner.cancel(job.id)
    release.set()
    runner.close()
    assert job.state == "cancelled" and runner.active is None
    assert runner.run(SingleRequest()).state == "done"


def test_jobs_are_kept_and_looked_up(rig):
    _, _, runner = rig
    ids = [runner.run(SingleRequest()).id for _ in range(25)]
    assert [j.id for j in runner.jobs()] == list(reversed(ids[-20:]))
    assert runner.get(ids[-1]).state == "done"
    with pytest.raises(JobNotFound):
        runner.get(ids[0])
    assert runner.cancel(ids[-1]).state == "done", "cancelling a finished job changes nothing"


def test_run_can_raise_the_failure(rig):
    _, shooter, runner = rig
    shooter.fail_save = StorageFull(28, "storage full")
    with pytest.raises(StorageFull):
        runner.run(SingleRequest(), raise_errors=True)
    assert runner.jobs()[0].state == "failed"
