"""EXIF APP1 for the JPEG: exiftool reads the tags and the thumbnail; the JPEG still decodes."""

import datetime as dt
import json
import shutil
import struct
import subprocess

import numpy as np
import pytest
import simplejpeg

from firmware.capture.exif import exif_app1, insert_app1
from firmware.capture.shot import LensTags, ShotInfo
from hal.camera import FrameMetadata

META = FrameMetadata(3, 0, 2_000_000, 1.5, (2.0, 1.6), 5000, 2_100_000)
SHOT = ShotInfo(META, dt.datetime(2026, 11, 21, 21, 5, 0),
                LensTags("Voigtländer", "Nokton classic 40 f/1.4", 40.0, 1.4, 16.0, 5.6))


def _image() -> np.ndarray:
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:, :320] = (220, 30, 30)
    rgb[:, 320:] = (30, 30, 220)
    return rgb


def _jpeg_with_exif(tmp_path, shot=SHOT, thumbnail=True):
    rgb = _image()
    jpeg = simplejpeg.encode_jpeg(rgb, quality=85, colorspace="RGB")
    out = insert_app1(jpeg, exif_app1(shot, rgb if thumbnail else None))
    path = tmp_path / "shot.jpg"
    path.write_bytes(out)
    return path


def _exiftool(*args):
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool not installed (Debian: libimage-exiftool-perl)")
    out = subprocess.run(["exiftool", *args], capture_output=True, check=True)
    return out.stdout


def test_exiftool_reads_exposure_lens_and_camera(tmp_path):
    path = _jpeg_with_exif(tmp_path)
    tags = json.loads(_exiftool("-j", "-n", "-G1", str(path)))[0]
    assert tags["IFD0:Make"] == "Raspberry Pi"
    assert tags["IFD0:Model"] == "HQ Camera IMX477 (mrig)"
    assert tags["IFD0:Orientation"] == 1
    assert tags["ExifIFD:ExposureTime"] == 2
    assert tags["ExifIFD:ISO"] == 150
    assert tags["ExifIFD:FNumber"] == 5.6
    assert tags["ExifIFD:FocalLength"] == 40
    assert tags["ExifIFD:FocalLengthIn35mmFormat"] == 220
    assert tags["ExifIFD:LensModel"] == "Nokton classic 40 f/1.4"
    assert tags["ExifIFD:LensMake"] == "Voigtlander"
    assert tags["ExifIFD:LensInfo"] == "40 40 1.4 1.4"
    assert tags["ExifIFD:DateTimeOriginal"] == "2026:11:21 21:05:00"
    assert tags["IFD1:Compression"] == 6
    # The JPEG still decodes to the same image.
    rgb = simplejpeg.decode_jpeg(path.read_bytes())
    assert rgb.shape == (480, 640, 3)
    assert rgb[240, 100, 0] > 200


def test_thumbnail_is_a_small_jpeg_of_the_image(tmp_path):
    path = _jpeg_with_exif(tmp_path)
    thumb = _exiftool("-b", "-ThumbnailImage", str(path))
    rgb = simplejpeg.decode_jpeg(thumb)
    assert rgb.shape == (120, 160, 3)
    assert rgb[60, 20, 0] > 180 and rgb[60, 140, 2] > 180


def test_without_thumbnail_or_lens(tmp_path):
    shot = ShotInfo(META, dt.datetime(1970, 1, 1))
    path = _jpeg_with_exif(tmp_path, shot, thumbnail=False)
    tags = json.loads(_exiftool("-j", "-G1", str(path)))[0]
    assert "IFD1:Compression" not in tags and "ExifIFD:LensModel" not in tags
    assert tags["ExifIFD:ExposureTime"] == 2


def test_insert_app1_placement():
    rgb = _image()
    jpeg = simplejpeg.encode_jpeg(rgb, quality=85, colorspace="RGB")
    app1 = exif_app1(SHOT)
    once = insert_app1(jpeg, app1)
    assert once[:2] == b"\xff\xd8"
    if jpeg[2:4] == b"\xff\xe0":  # after the JFIF APP0, which must stay first
        assert once[2:4] == b"\xff\xe0"
    assert once.count(b"Exif\0\0") == 1
    # Inserting again replaces the old EXIF instead of stacking a second one.
    twice = insert_app1(once, exif_app1(ShotInfo(META, dt.datetime(2030, 1, 1))))
    assert twice.count(b"Exif\0\0") == 1 and b"2030:01:01" in twice and b"2026:11:21" not in twice
    bare = b"\xff\xd8" + jpeg[2 + 2 + int.from_bytes(jpeg[4:6], "big"):]
    assert insert_app1(bare, app1)[2:4] == b"\xff\xe1"
    with pytest.raises(ValueError):
        insert_app1(b"GIF89a", app1)
    assert len(app1) <= 65537


def _be_ifd(entries, start):
    """A big-endian IFD at ``start``: (tag, type, count, value bytes)."""
    head, data = struct.pack(">H", len(entries)), b""
    at = start + 2 + 12 * len(entries) + 4
    for tag, kind, count, raw in entries:
        if len(raw) <= 4:
            head += struct.pack(">HHI", tag, kind, count) + raw.ljust(4, b"\0")
        else:
            head += struct.pack(">HHII", tag, kind, count, at + len(data))
            data += raw
    return head + struct.pack(">I", 0) + data


def test_the_jpegs_exif_is_copied_from_another_cameras_big_endian_dng():
    """mrig develop of a DNG from elsewhere keeps its tags: big-endian, the Exif pointer
    typed IFD (13), UTF-8 text, a signed byte (none of which stops the rest)."""
    import piexif

    from firmware.capture.develop import exif_from_dng

    make = "Voigtländer".encode() + b"\0"
    first = _be_ifd([(271, 2, len(make), make), (34665, 13, 1, b"\0\0\0\0")], 8)
    exif_at = 8 + len(first)
    first = _be_ifd([(271, 2, len(make), make), (34665, 13, 1, struct.pack(">I", exif_at))], 8)
    exif = _be_ifd([(33434, 5, 1, struct.pack(">II", 1, 125)), (0x9999, 6, 1, b"\xff")], exif_at)
    tags = piexif.load(exif_from_dng(b"MM\0*" + struct.pack(">I", 8) + first + exif))
    assert tags["0th"][271] == b"Voigtlander"
    assert tags["Exif"][33434] == (1, 125)
