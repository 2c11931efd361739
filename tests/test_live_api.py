"""/api/live, its events stream, analysis options and magnify, against the virtual camera."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import threading

import numpy as np
import pytest

from firmware.live.schema import LiveBody
from tests.waiting import wait_until

MANUAL = {"exposure_time_us": 2500, "analogue_gain": 1.0, "awb_enable": False,
          "colour_gains": [2.0, 1.6]}


def live_after(client, sequence: int, **params) -> dict:
    r = client.get("/api/live", params={"after": sequence, **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sequence"] > sequence
    return body


#: One line of the 2028×1520 mode: exposure is set in whole lines.
LINE_US = 12740 / 840


def live_where(client, predicate, sequence: int = 0, frames: int = 60) -> dict:
    """The first live frame after ``sequence`` for which ``predicate`` holds: controls reach
    the sensor a few frames after they are set, and a turned ring's image a moment later."""
    for _ in range(frames):
        body = live_after(client, sequence)
        if predicate(body):
            return body
        sequence = body["sequence"]
    raise AssertionError(f"no frame matched in {frames}: last {body['exposure_time_us']} us "
                         f"gain {body['analogue_gain']}")


def exposed(exposure_us: float):
    return lambda body: abs(body["exposure_time_us"] - exposure_us) <= LINE_US


def set_controls(client, **body) -> int:
    """PATCH the controls; the sequence of the newest frame when the change was made."""
    r = client.patch("/api/controls", json=body)
    assert r.status_code == 200, r.text
    actual = r.json()["actual"]
    return actual["sequence"] if actual else 0


def test_live_answers_with_every_figure(client):
    r = client.get("/api/live")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = LiveBody.model_validate(r.json())
    assert (body.frame_size[0], body.frame_size[1]) == (320, 240)
    assert body.histogram.samples == sum(body.histogram.luma) > 0
    assert set(body.raw_histogram.channels) == {"R", "G1", "G2", "B"}
    assert set(body.clipping) == {"R", "G1", "G2", "B"}
    assert body.focus_measure > 0 and body.exposure_time_us > 0 and body.colour_temperature > 0
    codes = np.frombuffer(base64.b64decode(body.exposure_map.data), np.uint8)
    assert codes.size == body.exposure_map.width * body.exposure_map.height
    assert "exposure_map" not in client.get("/api/live", params={"map": "false"}).json()


def test_the_meter_reads_zero_where_ae_settles_and_counts_stops_in_manual(client):
    """In P the camera's AE settles where the meter (same target, same centre weighting) reads
    about 0; in M, half the exposure reads about -1 stop and an eighth about -3 (less light,
    not more: a longer exposure than AE's would not fit in a frame of the 10 fps live view)."""
    settled = live_where(client, lambda b: abs(b["meter"]["ev"]["centre"]) < 0.25, frames=120)
    total_us = settled["exposure_time_us"] * settled["analogue_gain"]
    for factor, stops in ((0.5, -1.0), (0.125, -3.0)):
        us = round(total_us * factor)
        seq = set_controls(client, exposure_time_us=us, analogue_gain=1.0, ae_enable=False)
        body = live_where(client, lambda b, us=us: abs(b["exposure_time_us"] - us) < 0.01 * us
                          and abs(b["analogue_gain"] - 1) < 0.02,
                          seq)
        body = live_after(client, body["sequence"])  # its raw frame analysed
        assert body["meter"]["ev"]["centre"] == pytest.approx(stops, abs=0.3), body["meter"]
    # Spot metering follows the tapped point (the focus patch): the white patch of the chart
    # against the black one.
    readings = {}
    for name, x, y in (("white", 0.33, 0.93), ("black", 0.66, 0.93)):
        client.patch("/api/live/options", json={"focus_x": x, "focus_y": y})
        body = live_where(client, lambda b, x=x: b["meter"]["spot"][0] == x, seq)
        readings[name] = body["meter"]["ev"]["spot"]
        assert body["meter"]["spot"] == [x, y]
    assert readings["white"] > readings["black"] + 2


def test_controls_take_effect_a_few_frames_later_and_stay(client):
    seq = set_controls(client, **MANUAL)
    live_where(client, exposed(MANUAL["exposure_time_us"]), seq)
    for exposure_us in (1000, 3000, 6000):
        seq = set_controls(client, exposure_time_us=exposure_us)
        # The request queue and libcamera's delay: a few frames, never the very next.
        body = live_where(client, exposed(exposure_us), seq, frames=10)
        assert body["sequence"] >= seq + 2
        for _ in range(3):  # and every frame after it has it
            body = live_after(client, body["sequence"])
            assert exposed(exposure_us)(body)


def _mean_bin(counts) -> float:
    counts = np.asarray(counts, dtype=float)
    return float((counts * np.arange(len(counts))).sum() / counts.sum())


def test_brighter_exposure_moves_the_histogram_right_and_shrinks_ettr(client):
    readings = []
    for exposure_us in (1000, 2000, 4000):
        seq = set_controls(client, **(MANUAL | {"exposure_time_us": exposure_us}))
        readings.append(live_where(client, exposed(exposure_us), seq))
    luma = [_mean_bin(b["histogram"]["luma"]) for b in readings]
    raw = [_mean_bin(b["raw_histogram"]["channels"]["G1"]) for b in readings]
    ettr = [b["ettr_ev"] for b in readings]
    assert luma[0] < luma[1] < luma[2]
    assert raw[0] < raw[1] < raw[2]
    assert ettr[0] > ettr[1] > ettr[2]
    assert ettr[0] - ettr[2] == pytest.approx(2.0, abs=0.2)


def test_focus_measure_is_higher_at_the_scene_distance(client):
    seq = set_controls(client, **MANUAL)
    seq = live_where(client, exposed(MANUAL["exposure_time_us"]), seq)["sequence"]
    sharp = live_after(client, seq)["focus_measure"]
    r = client.patch("/api/mock/lens", json={"focus_distance_m": 0.7})
    assert r.status_code == 200
    # The picture follows the ring once the turned lens's image is rendered.
    blurred = live_where(client, lambda b: b["focus_measure"] < sharp / 10, seq, frames=200)
    client.patch("/api/mock/lens", json={"focus_distance_m": 2.0})
    live_where(client, lambda b: b["focus_measure"] > 10 * blurred["focus_measure"],
               blurred["sequence"], frames=200)


def test_magnify_sets_the_scaler_crop_and_the_view_follows(client):
    seq = set_controls(client, **MANUAL)
    whole = live_where(client, exposed(MANUAL["exposure_time_us"]), seq)
    assert client.get("/api/magnify").json()["factor"] == 1
    r = client.put("/api/magnify", json={"factor": 5, "x": 0.25, "y": 0.7})
    assert r.status_code == 200, r.text
    state = r.json()
    left, top, w, h = state["scaler_crop"]
    assert state["field"] == [0, 0, 4056, 3040] and state["factor"] == 5
    assert (w, h) == (812, 608)
    assert abs(left + w / 2 - 0.25 * 4056) <= 2 and abs(top + h / 2 - 0.7 * 3040) <= 2
    assert client.get("/api/magnify").json() == state
    seq = client.get("/api/controls").json()["actual"]["sequence"]
    zoomed = live_where(client, lambda b: b["scaler_crop"] == state["scaler_crop"], seq)
    # Different content: a 5× window of the board, not the whole board.
    assert zoomed["raw_histogram"]["channels"]["G1"] != whole["raw_histogram"]["channels"]["G1"]
    assert zoomed["exposure_map"]["data"] != whole["exposure_map"]["data"]

    # Controls keep the punch-in; DELETE (or factor 1) goes back to the whole field.
    seq = set_controls(client, exposure_time_us=3000)
    assert live_where(client, exposed(3000), seq)["scaler_crop"] == state["scaler_crop"]
    r = client.delete("/api/magnify")
    assert r.json()["scaler_crop"] is None and r.json()["factor"] == 1
    seq = client.get("/api/controls").json()["actual"]["sequence"]
    live_where(client, lambda b: b["scaler_crop"] == [0, 0, 4056, 3040], seq)
    client.put("/api/magnify", json={"factor": 10, "x": 1.0, "y": 1.0})
    r = client.put("/api/magnify", json={"factor": 1})
    assert r.json()["scaler_crop"] is None


def test_magnify_reads_the_full_resolution_mode_for_real_sensor_pixels(make_client, settings):
    client = make_client(settings_=settings.with_overrides(camera={"zero_shutter_lag": False}))
    assert client.get("/api/magnify").json()["sensor_mode"] == "2028x1520"
    r = client.put("/api/magnify", json={"factor": 5, "x": 0.5, "y": 0.5})
    assert r.json()["sensor_mode"] == "4056x3040"  # not 2×2-binned pixels blown up
    seq = client.get("/api/controls").json()["actual"]["sequence"]
    live_after(client, seq + 1)
    actual = client.get("/api/controls").json()["actual"]
    assert actual["frame_duration_us"] >= round(1e6 / 10.0)  # the full-resolution mode's pace
    r = client.delete("/api/magnify")
    assert r.json()["sensor_mode"] == "2028x1520"
    seq = client.get("/api/controls").json()["actual"]["sequence"]
    live_after(client, seq + 1)
    assert client.get("/api/controls").json()["actual"]["frame_duration_us"] < round(1e6 / 30)


@pytest.mark.parametrize("body", [{"factor": 3}, {"factor": 2, "x": 1.5}, {"factor": 2, "z": 0},
                                  {"x": 0.5}])
def test_bad_magnify_is_422(client, body):
    r = client.put("/api/magnify", json=body)
    assert r.status_code == 422


def test_focus_point_option_moves_the_focus_patch(client):
    assert client.get("/api/live/options").json()["focus_x"] == 0.5
    r = client.patch("/api/live/options", json={"focus_x": 0.1, "focus_y": 0.9, "focus_size": 0.1})
    assert r.status_code == 200 and r.json()["focus_x"] == 0.1
    seq = client.get("/api/live").json()["sequence"]
    body = live_after(client, seq + 1)
    assert (body["focus"]["x"], body["focus"]["y"], body["focus"]["size"]) == (0.1, 0.9, 0.1)
    assert client.patch("/api/live/options", json={"focus_x": 2}).status_code == 422
    assert client.patch("/api/live/options", json={"zebra": 1}).status_code == 422


def read_events(response, count: int, until=None) -> list[tuple[str, str]]:
    """``(event, data)`` pairs from a server-sent events stream."""
    events, event, data = [], None, []
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and event:
            events.append((event, "\n".join(data)))
            event, data = None, []
            if until is not None:
                until(events)
            if len(events) >= count:
                break
    return events


def test_events_push_each_analysed_frame(client):
    with client.stream("GET", "/api/live/events", params={"map": "false"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert client.app.state.service.live.event_streams == 1
        events = read_events(r, 3)
    assert [e for e, _ in events] == ["live"] * 3
    bodies = [json.loads(d) for _, d in events]
    LiveBody.model_validate(bodies[0])
    assert bodies[0]["sequence"] < bodies[1]["sequence"] < bodies[2]["sequence"]
    live = client.app.state.service.live
    wait_until(lambda: live.event_streams == 0)


def test_events_end_cleanly_when_the_camera_faults(client, rig):
    def fault_after_two(events):
        if len(events) == 2:
            rig.faults.disconnected = True

    with client.stream("GET", "/api/live/events") as r:
        events = read_events(r, 100, until=fault_after_two)
    assert events[-1][0] == "end"  # the server closed the stream after saying why
    assert json.loads(events[-1][1])["state"] == "recovering"
    rig.faults.disconnected = False
    live = client.app.state.service.live
    wait_until(lambda: live.event_streams == 0)
    wait_until(lambda: client.get("/api/status").json()["state"] == "running")
    assert client.get("/api/live").status_code == 200


def test_events_cap_answers_503(client):
    live = client.app.state.service.live
    live.max_event_streams = 1
    release = live.open_event_stream()  # someone is already listening
    r = client.get("/api/live/events")
    assert r.status_code == 503 and "at most 1" in r.json()["detail"]
    release()
    release()  # giving a slot back twice is harmless
    assert live.event_streams == 0


def _tasks(client) -> int:
    return client.portal.call(lambda: len(asyncio.all_tasks()))


def _read_mjpeg(client, frames: int) -> None:
    with client.stream("GET", "/api/stream.mjpg") as r:
        assert r.status_code == 200
        seen = 0
        for chunk in r.iter_bytes():
            seen += chunk.count(b"--mrigframe")
            if seen >= frames:
                break


def test_viewers_leaving_returns_streams_tasks_and_threads_to_idle(client):
    service = client.app.state.service
    slots = client.app.state.stream_slots
    client.get("/api/live")
    baseline_tasks = _tasks(client)

    def one_round() -> int:
        for _ in range(3):
            _read_mjpeg(client, 2)
            with client.stream("GET", "/api/live/events") as r:
                read_events(r, 1)
        wait_until(lambda: slots.active == 0 and service.live.event_streams == 0)
        wait_until(lambda: _tasks(client) <= baseline_tasks)
        return threading.active_count()

    after_first = one_round()
    after_second = one_round()
    # Worker threads are pooled: more viewers coming and going does not grow their number.
    assert after_second <= after_first
    assert service.healthy


def test_analysis_idles_with_nobody_looking(make_client, camera):
    client = make_client(camera)
    live = client.app.state.service.live
    clock = [0.0]
    live.clock = lambda: clock[0]  # demand expiry on a hand-turned clock
    frames_before = client.app.state.service.frames
    wait_until(lambda: client.app.state.service.frames > frames_before + 3)
    assert live.analysed == 0 and not live.active
    first = client.get("/api/live").json()  # waits for a fresh analysis
    assert first["sequence"] > frames_before
    assert live.active
    clock[0] += 60.0  # the viewer went away
    assert not live.active
    analysed = live.analysed
    seq = client.app.state.service.frames
    wait_until(lambda: client.app.state.service.frames > seq + 3)
    assert live.analysed <= analysed + 1  # at most the frame already handed over


def test_a_stream_dropped_before_its_first_chunk_gives_its_slot_back(client):
    """A client that goes away before the body starts must not keep a slot for ever."""
    from firmware.api.routes.live import live_events
    from firmware.api.routes.stream import stream

    service = client.app.state.service
    slots = client.app.state.stream_slots
    security = client.app.state.security
    session = next(iter(security.sessions.live(security.passwords.fingerprint())))[0]

    async def open_and_drop() -> tuple[int, int]:
        mjpeg = await stream(service, slots, session, security)
        events = await live_events(service, session, security, include_map=False)
        taken = (slots.active, service.live.event_streams)
        del mjpeg, events  # never iterated, as when the client disconnects at once
        gc.collect()
        return taken

    assert client.portal.call(open_and_drop) == (1, 1)
    assert slots.active == 0 and service.live.event_streams == 0


def _preview(sequence: int):
    from hal.camera import FrameMetadata, PreviewFrame, RawFrame

    m = FrameMetadata(sequence=sequence, sensor_timestamp_ns=0, exposure_time_us=1000,
                      analogue_gain=1.0, colour_gains=(2.0, 1.5), colour_temperature=5000,
                      frame_duration_us=25_000)
    raw = RawFrame(np.zeros((16, 16), np.uint16), "BGGR", 256, 4095, 12, m)
    return PreviewFrame(rgb=np.zeros((16, 16, 3), np.uint8), raw=raw, metadata=m)


def test_eight_viewers_share_one_encode_and_a_slow_one_skips_frames(monkeypatch):
    import simplejpeg

    from firmware.broadcast import Broadcast

    encodes = []
    real_encode = simplejpeg.encode_jpeg
    monkeypatch.setattr(simplejpeg, "encode_jpeg",
                        lambda *a, **k: encodes.append(1) or real_encode(*a, **k))
    broadcast = Broadcast()

    async def scenario():
        viewers = [asyncio.ensure_future(broadcast.next_after(0, 5.0)) for _ in range(8)]
        await asyncio.sleep(0)
        broadcast.publish(_preview(1))
        frames = await asyncio.gather(*viewers)
        jpegs = {id(f.jpeg()) for f in frames}
        # A slow viewer, busy while frames 2-5 were published, gets the newest only.
        for sequence in range(2, 6):
            broadcast.publish(_preview(sequence))
        newest = await broadcast.next_after(1, 5.0)
        return jpegs, newest.sequence

    jpegs, newest = asyncio.run(scenario())
    assert len(jpegs) == 1 and len(encodes) == 1
    assert newest == 5
