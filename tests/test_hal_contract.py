"""The HAL's data types hold their invariants."""

import numpy as np
import pytest

from hal.camera import FrameMetadata, RawFrame, preview_mode
from hal.imx477 import sensor_info


def _meta() -> FrameMetadata:
    return FrameMetadata(0, 0, 10_000, 1.0, (2.0, 1.6), 5000, 25_000)


def test_imx477_facts():
    s = sensor_info()
    assert s.black_level(12) == 256
    assert s.black_level(10) == 64
    assert [m.size for m in s.modes] == [(1332, 990), (2028, 1080), (2028, 1520), (4056, 3040)]
    assert s.full_resolution_mode.size == (4056, 3040)
    assert preview_mode(s).size == (2028, 1520)
    assert all(m.bayer_order == "BGGR" for m in s.modes)
    assert s.mode("1332x990").bit_depth == 10


@pytest.mark.parametrize(
    "order, red_at, blue_at",
    [("RGGB", (0, 0), (1, 1)), ("BGGR", (1, 1), (0, 0)), ("GRBG", (0, 1), (1, 0)), ("GBRG", (1, 0), (0, 1))],
)
def test_raw_frame_channels(order, red_at, blue_at):
    data = np.arange(16, dtype=np.uint16).reshape(4, 4)
    raw = RawFrame(data, order, 256, 4095, 12, _meta())
    assert raw.channel("R")[0, 0] == data[red_at]
    assert raw.channel("B")[0, 0] == data[blue_at]
    assert raw.channel("R").shape == (2, 2)


def test_raw_frame_rejects_wrong_dtype_and_order():
    with pytest.raises(ValueError):
        RawFrame(np.zeros((4, 4), np.float32), "RGGB", 256, 4095, 12, _meta())
    with pytest.raises(ValueError):
        RawFrame(np.zeros((4, 4), np.uint16), "RGBG", 256, 4095, 12, _meta())
