"""Photo storage: atomic saves, unique names, a full card on a real tmpfs, name validation."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import simplejpeg

from firmware.config import Settings
from firmware.exc import InvalidPhotoName, PhotoNotFound, StorageFull
from firmware.storage import (
    COUNTER_BLOCK,
    COUNTER_FILE,
    MIB,
    PHOTO_FILE_RE,
    PhotoStore,
    atomic_write,
    validate_name,
)

REPO = Path(__file__).resolve().parents[1]
EPOCH = dt.datetime(1970, 1, 1, 0, 0, 0)


def _store(tmp_path: Path, **kw) -> PhotoStore:
    kw.setdefault("reserve_bytes", 0)
    kw.setdefault("now", lambda: EPOCH)
    return PhotoStore(tmp_path / "photos", state_dir=tmp_path, **kw)


def _jpeg(width: int = 640, height: int = 480, colour=(200, 40, 20)) -> bytes:
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = colour
    return simplejpeg.encode_jpeg(rgb, quality=90, colorspace="RGB")


# -- names --------------------------------------------------------------------------------


def test_names_unique_with_a_clock_stuck_in_1970(tmp_path):
    store = _store(tmp_path)
    names = [store.save({"jpg": b"x"})[0] for _ in range(5)]
    assert len(set(names)) == 5
    assert names[0] == "MRIG_19700101_000000_0000.jpg"
    assert all(PHOTO_FILE_RE.fullmatch(n) for n in names)
    # A reboot (new store, same folder) continues the counter instead of reusing names: after
    # a clean stop at the next number, after a crash past the block of names taken.
    store.close()
    again = _store(tmp_path)
    assert again.save({"jpg": b"y"})[0] == "MRIG_19700101_000000_0005.jpg"
    assert (tmp_path / COUNTER_FILE).read_text().strip() == str(5 + COUNTER_BLOCK)
    after_crash = _store(tmp_path).save({"jpg": b"z"})[0]  # `again` was never closed
    assert after_crash == f"MRIG_19700101_000000_{5 + COUNTER_BLOCK:04d}.jpg"


def test_counter_restarts_above_existing_photos_when_its_file_is_lost(tmp_path):
    store = _store(tmp_path)
    for _ in range(3):
        store.save({"jpg": b"x"})
    (tmp_path / COUNTER_FILE).unlink()
    assert _store(tmp_path).save({"jpg": b"y"}) == ["MRIG_19700101_000000_0003.jpg"]


def test_newest_first_follows_the_counter_not_the_clock(tmp_path):
    times = iter([dt.datetime(2026, 5, 1, 12), EPOCH, dt.datetime(2001, 1, 1)])
    store = _store(tmp_path, now=lambda: next(times))
    first = store.save({"jpg": b"a"})[0]
    second = store.save({"jpg": b"b"})[0]
    assert [e.files[0] for e in store.list().items] == [second, first]


def test_photo_is_never_overwritten(tmp_path):
    target = tmp_path / "MRIG_19700101_000000_0000.jpg"
    target.write_bytes(b"old photo")
    with pytest.raises(FileExistsError):
        atomic_write(target, b"new", overwrite=False)
    assert target.read_bytes() == b"old photo"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_atomic_write_replaces_state_files(tmp_path):
    path = tmp_path / "state.json"
    atomic_write(path, b"1")
    atomic_write(path, b"2")
    assert path.read_bytes() == b"2"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_stray_temporary_files_and_orphan_sidecars_removed_at_start(tmp_path):
    folder = tmp_path / "photos"
    (folder / ".thumbs").mkdir(parents=True)
    (folder / ".tmp-MRIG_19700101_000000_0000.dng-1234").write_bytes(b"half a photo")
    (folder / ".thumbs" / ".tmp-x.jpg-99").write_bytes(b"half a thumb")
    (folder / "MRIG_19700101_000000_0004.json").write_text("{}")
    (folder / "MRIG_19700101_000000_0005.jpg").write_bytes(b"kept")
    (folder / "MRIG_19700101_000000_0005.json").write_text("{}")
    store = _store(tmp_path)
    assert sorted(store.removed_at_start) == [
        ".tmp-MRIG_19700101_000000_0000.dng-1234",
        ".tmp-x.jpg-99",
        "MRIG_19700101_000000_0004.json",
    ]
    assert sorted(os.listdir(folder)) == [
        ".spool", ".thumbs", "MRIG_19700101_000000_0005.jpg", "MRIG_19700101_000000_0005.json"
    ]
    # A temporary file appearing later (a write in flight) is never listed.
    (folder / ".tmp-MRIG_19700101_000000_0009.jpg-1").write_bytes(b"in flight")
    assert [e.name for e in store.list().items] == ["MRIG_19700101_000000_0005"]


# -- listing ------------------------------------------------------------------------------


def test_listing_groups_formats_and_carries_sidecar_metadata(tmp_path):
    store = _store(tmp_path)
    lens = {"id": "leica-summicron-m-50-f2", "name": "Summicron-M 50 f/2", "f_number": 2.8}
    exposure = {"exposure_time_us": 8000, "analogue_gain": 2.0, "iso": 200}
    names = store.save({"dng": b"d" * 100, "jpg": b"j" * 50}, {"lens": lens, "exposure": exposure})
    store.save({"jpg": b"j"})
    page = store.list()
    assert page.total == 2
    older = page.items[1]
    assert older.name == "MRIG_19700101_000000_0000"
    assert older.formats == ("dng", "jpg")
    assert older.files == tuple(names)
    assert older.size == 150
    assert older.lens == lens and older.exposure == exposure
    assert older.time == "1970-01-01T00:00:00"
    assert page.items[0].lens is None and page.items[0].formats == ("jpg",)
    assert store.entry(names[0]) == older
    json.dumps(older.as_dict())


def test_listing_pages(tmp_path):
    store = _store(tmp_path)
    for _ in range(7):
        store.save({"jpg": b"x"})
    page = store.list(offset=5, limit=3)
    assert page.total == 7
    assert [e.name[-4:] for e in page.items] == ["0001", "0000"]
    assert [e.name[-4:] for e in store.list(offset=0, limit=2).items] == ["0006", "0005"]
    with pytest.raises(ValueError):
        store.list(offset=-1)


def test_settings_place_photos_in_the_data_folder(tmp_path):
    settings = Settings().with_overrides(storage={"data_dir": str(tmp_path), "reserve_mib": 5})
    store = PhotoStore.from_settings(settings)
    assert store.folder == tmp_path / "photos"
    assert store.reserve_bytes == 5 * MIB


# -- space --------------------------------------------------------------------------------


def test_predicted_full_card_refuses_before_writing(tmp_path):
    store = _store(tmp_path, reserve_bytes=10 * MIB, free_bytes=lambda _: 10 * MIB + 1000)
    with pytest.raises(StorageFull) as err:
        store.save({"jpg": b"x" * 5000})
    assert isinstance(err.value, OSError) and err.value.errno == 28
    assert "MiB free" in str(err.value) and "reserved" in str(err.value)
    assert store.list().total == 0
    assert not (tmp_path / COUNTER_FILE).exists(), "a refused capture uses no name"


def _run_on_tiny_tmpfs(tmp_path: Path) -> dict:
    """Run tests/storage_enospc_child.py inside a private mount namespace holding a 2 MiB
    tmpfs: a user namespace when the kernel allows it (works unprivileged), else a plain
    mount namespace as root."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    mnt = tmp_path / "card"
    mnt.mkdir()
    child = [sys.executable, str(REPO / "tests" / "storage_enospc_child.py"), str(mnt)]
    attempts = [["unshare", "--user", "--map-root-user", "--mount", *child]]
    if os.geteuid() == 0:
        attempts.append(["unshare", "--mount", *child])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    failures = []
    for cmd in attempts:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
        if r.returncode == 0:
            return json.loads(r.stdout)
        if r.returncode != 77 and "unshare" not in r.stderr:
            pytest.fail(f"{' '.join(cmd[:5])} failed:\n{r.stderr}")
        failures.append(f"{' '.join(cmd[:4])}: {r.stderr.strip()}")
    pytest.skip("no way to mount a tiny tmpfs here (no user namespaces, not root): "
                + "; ".join(failures))


def test_full_card_on_a_real_tiny_filesystem(tmp_path):
    report = _run_on_tiny_tmpfs(tmp_path)
    assert report["fs_size"] == 2 * MIB
    # Predicted: the capture cannot fit, refused before any write.
    assert report["predicted"]["storage_full"] and report["predicted"]["errno"] == 28
    assert report["temps_after_predicted"] == []
    # Real ENOSPC from the kernel while writing: StorageFull (an OSError, errno ENOSPC).
    enospc = report["enospc"]
    assert enospc is not None, "the fooled pre-flight check should have hit a real ENOSPC"
    assert enospc["type"] == "StorageFull" and enospc["os_error"] and enospc["errno"] == 28
    assert "storage full" in enospc["message"]
    # No temporary file, no part of the failed capture, every earlier photo intact.
    assert report["temps_after_enospc"] == []
    assert report["old_intact"]
    assert sorted(f for files in report["listing_after_enospc"] for f in files) == report["old"]
    assert [f for f in report["files_after_enospc"] if not f.startswith(".")] == sorted(
        report["old"] + [n.replace(".dng", ".json") for n in report["old"] if n.endswith(".dng")]
    )
    # The reserve is kept, and after freeing space capturing works again.
    assert report["reserve"]["storage_full"]
    assert len(report["after_delete_saved"]) == 1
    assert report["final_listing"][0] == report["after_delete_saved"][0].split(".")[0]


# -- name validation and access -----------------------------------------------------------

BAD_NAMES = [
    "",
    ".",
    "..",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f",
    "..%5c..%5cboot.ini",
    "..\\..\\windows\\win.ini",
    "MRIG_19700101_000000_0000.jpg\\..",
    "/etc/passwd",
    "/work/photos/MRIG_19700101_000000_0000.jpg",
    "MRIG_19700101_000000_0000.jpg\x00.png",
    "MRIG_19700101_000000_0000\x00",
    "MRIG_19700101_000000_0000.jpg/",
    "MRIG_19700101_000000_0000.jpg/../x",
    "MRIG_19700101_000000_0000.png",
    "MRIG_19700101_000000_0000.json",
    "MRIG_19700101_000000_0000.JPG",
    ".thumbs",
    ".tmp-MRIG_19700101_000000_0000.jpg-1",
    ".counter",
    "mrig_19700101_000000_0000.jpg",
    "MRIG_1970_0000.jpg",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_malformed_names_are_400(tmp_path, name):
    store = _store(tmp_path)
    store.save({"jpg": b"x"})
    with pytest.raises(InvalidPhotoName):
        validate_name(name)
    for call in (store.resolve, store.delete, store.thumbnail):
        with pytest.raises(InvalidPhotoName):
            call(name)
    assert store.list().total == 1


def test_good_names(tmp_path):
    assert validate_name("MRIG_20261121_104512_0007.dng") == "MRIG_20261121_104512_0007.dng"
    assert validate_name("MRIG_20261121_104512_12345") == "MRIG_20261121_104512_12345"
    with pytest.raises(InvalidPhotoName):
        validate_name("MRIG_20261121_104512_0007", allow_stem=False)


def test_missing_or_odd_files_are_404(tmp_path):
    store = _store(tmp_path)
    with pytest.raises(PhotoNotFound):
        store.resolve("MRIG_19700101_000000_0000.jpg")
    (store.folder / "MRIG_19700101_000000_0001.jpg").mkdir()
    with pytest.raises(PhotoNotFound):
        store.resolve("MRIG_19700101_000000_0001.jpg")
    with pytest.raises(PhotoNotFound):
        store.delete("MRIG_19700101_000000_0002")
    assert issubclass(PhotoNotFound, FileNotFoundError)


def test_symlinks_out_of_the_folder_are_refused_and_never_deleted(tmp_path):
    store = _store(tmp_path)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(_jpeg())
    link = store.folder / "MRIG_19700101_000000_0042.jpg"
    link.symlink_to(secret)
    dir_link = store.folder / "MRIG_19700101_000000_0043.jpg"
    dir_link.symlink_to("/etc")
    for name in (link.name, dir_link.name):
        with pytest.raises(PhotoNotFound):
            store.resolve(name)
        with pytest.raises(PhotoNotFound):
            store.delete(name)
        with pytest.raises(PhotoNotFound):
            store.thumbnail(name)
    with pytest.raises(PhotoNotFound):
        store.delete("MRIG_19700101_000000_0042")
    assert secret.exists() and link.is_symlink()
    assert store.list().total == 0, "symlinks are not listed"


def test_symlink_within_the_folder_resolves_inside(tmp_path):
    store = _store(tmp_path)
    real = store.save({"jpg": b"x"})[0]
    alias = store.folder / "MRIG_19700101_000000_0099.jpg"
    alias.symlink_to(real)
    assert store.resolve(alias.name) == (store.folder / real).resolve()


def test_delete_file_then_capture_cleans_sidecar_and_thumbnail(tmp_path):
    store = _store(tmp_path)
    dng, jpg = store.save({"dng": b"d", "jpg": _jpeg()}, {"exposure": {"iso": 100}})
    stem = jpg[:-4]
    store.thumbnail(stem)
    assert store.delete(dng) == [dng]
    assert store.entry(stem).formats == ("jpg",)
    assert (store.folder / f"{stem}.json").exists()
    assert store.delete(stem) == [jpg]
    assert sorted(os.listdir(store.folder)) == [".spool", ".thumbs"]
    assert os.listdir(store.thumbs) == []
    with pytest.raises(PhotoNotFound):
        store.delete(stem)


def test_thumbnail_from_jpeg_is_small_and_cached(tmp_path):
    store = _store(tmp_path)
    [jpg] = store.save({"jpg": _jpeg(1600, 1200)})
    thumb = store.thumbnail(jpg)
    rgb = simplejpeg.decode_jpeg(thumb.read_bytes())
    assert rgb.shape == (240, 320, 3)
    assert np.allclose(rgb.reshape(-1, 3).mean(axis=0), (200, 40, 20), atol=4)
    assert thumb.parent == store.thumbs and thumb.name == jpg
    stamp = thumb.stat().st_mtime_ns
    assert store.thumbnail(jpg[:-4]) == thumb
    assert thumb.stat().st_mtime_ns == stamp, "a cached thumbnail is not made again"


def test_thumbnail_from_a_dng_preview(tmp_path):
    from firmware.capture.dng import encode_dng
    from firmware.capture.shot import ShotInfo
    from hal.camera import FrameMetadata, RawFrame
    from isp.tuning import default_tuning

    meta = FrameMetadata(0, 0, 10_000, 1.0, (2.0, 1.6), 5000, 100_000)
    raw = RawFrame(np.full((64, 96), 1000, np.uint16), "BGGR", 256, 4095, 12, meta)
    preview = np.zeros((300, 400, 3), np.uint8)
    preview[..., 2] = 180
    dng = encode_dng(raw, ShotInfo(meta, EPOCH), default_tuning("vc4"), preview_rgb=preview)
    store = _store(tmp_path)
    [name] = store.save({"dng": dng})
    rgb = simplejpeg.decode_jpeg(store.thumbnail(name[:-4]).read_bytes())
    assert rgb.shape == (192, 256, 3)
    assert abs(int(rgb[..., 2].mean()) - 180) < 4 and rgb[..., 0].mean() < 4


def test_usage_estimates_shots_left(tmp_path):
    free = [10 * MIB]
    store = _store(tmp_path, reserve_bytes=1000, free_bytes=lambda _: free[0])
    store.save({"jpg": b"x" * 400, "dng": b"y" * 600})
    free[0] = 101_000
    assert store.usage() == {"free_bytes": 101_000, "reserve_bytes": 1000,
                             "bytes_per_shot": 1000, "shots_left": 100}
    assert store.usage(typical_capture_bytes=50_000)["shots_left"] == 2
