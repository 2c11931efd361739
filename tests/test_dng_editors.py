"""Our DNGs open in the editors photographers use: darktable and RawTherapee, where installed.

The test develops a four-patch DNG with each editor's command-line tool and checks that the
patches keep their colours. CI checks LibRaw and exiftool (tests/test_dng.py); these editors are
large packages, so this test runs where a developer has them and is skipped elsewhere.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import numpy as np
import pytest
import simplejpeg

from tests.test_dng import PATCHES, _scene, _write

EDITORS = {
    "darktable-cli": lambda dng, out, conf: [
        "darktable-cli", str(dng), str(out), "--core", "--configdir", str(conf)],
    "rawtherapee-cli": lambda dng, out, conf: [
        "rawtherapee-cli", "-o", str(out), "-j92", "-Y", "-c", str(dng)],
}


def _enlarged(raw, factor: int):
    """The same scene ``factor`` times larger, repeating whole 2×2 Bayer blocks (RawTherapee
    will not open an image as small as the 32×128 test scene)."""
    h, w = raw.data.shape
    quads = raw.data.reshape(h // 2, 2, w // 2, 2)
    quads = quads.repeat(factor, axis=0).repeat(factor, axis=2)
    return dataclasses.replace(raw, data=quads.reshape(h * factor, w * factor))


@pytest.mark.parametrize("editor", sorted(EDITORS))
def test_editor_develops_our_dng_with_the_right_colours(tmp_path, editor):
    if shutil.which(editor) is None:
        pytest.skip(f"{editor} is not installed")
    dng = _write(tmp_path, _enlarged(_scene("BGGR", 5000.0, gain=1.0), 8))
    out = tmp_path / "developed.jpg"
    cmd = EDITORS[editor](dng, out, tmp_path / "config")
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0 and out.is_file(), run.stdout + run.stderr
    image = simplejpeg.decode_jpeg(out.read_bytes()).astype(float)
    h, w, _ = image.shape
    names = list(PATCHES)
    centre = {name: image[h // 2, int((i + 0.5) * w / len(names))] for i, name in enumerate(names)}
    r, g, b = centre["red"]
    assert r > 1.5 * g and r > 1.5 * b, centre
    r, g, b = centre["green"]
    assert g > 1.3 * r and g > 1.3 * b, centre
    r, g, b = centre["blue"]
    assert b > 1.5 * r and b > 1.3 * g, centre
    grey = centre["grey"]
    assert np.ptp(grey) < 0.12 * grey.mean(), centre  # neutral stays neutral
