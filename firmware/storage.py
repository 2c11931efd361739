"""Photo storage that never leaves a broken or missing photo.

Every file is written to a hidden temporary file (``.tmp-…``) in the folder it belongs to,
flushed with ``fsync``, then given its final name, and the folder itself is ``fsync``-ed so
the new name survives a power cut. A crash at any point leaves either the whole file under
its final name or a temporary file, which the next start removes and the listing never shows.

Photos get their final names with *link* semantics (``os.link`` fails if the name exists), so
an existing photo is never overwritten, whatever the clock says. Names are
``MRIG_YYYYMMDD_HHMMSS_NNNN`` with a counter kept in the data folder: a Pi without a
real-time clock boots in 1970 and may repeat a second after every boot, the counter never
repeats (it also restarts above the highest counter found in the folder, should its file be
lost). The gallery sorts by that counter, so "newest first" stays right with a wrong clock.

Before a capture the free space is checked against the capture's size plus a reserve left
for the system; a card that fills anyway (``ENOSPC``) raises :class:`firmware.exc.StorageFull`
(the API answers 507), the temporary file and any part of the capture already written are
removed, and earlier photos are not touched. A capture is all or nothing: its DNG, JPEG and
metadata sidecar (``MRIG_…_NNNN.json``: capture time, lens, exposure) are kept together.

A shot whose JPEG is still to be developed has a marker in the spool (``.spool/<stem>.json``,
written before its DNG); a JPEG-only shot keeps its DNG there too until the JPEG is saved.
The marker goes when the JPEG is there, so after a crash or a power cut :meth:`PhotoStore.pending`
lists exactly the shots still to develop, in press order. The gallery lists a shot as soon as
its DNG is written, marked ``developing`` while its marker is there.

Layout of the photo folder::

    MRIG_20261121_104512_0007.dng   raw
    MRIG_20261121_104512_0007.jpg   developed JPEG
    MRIG_20261121_104512_0007.json  sidecar: captured_at, lens, exposure
    .thumbs/MRIG_…_0007.jpg         cached gallery thumbnail
    .spool/MRIG_…_0008.json         marker: this shot's JPEG is still to be developed
    .spool/MRIG_…_0008.dng          the raw of a JPEG-only shot until its JPEG is saved
    .tmp-*                          in-flight writes (removed at start, never listed)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import json
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from firmware.exc import InvalidPhotoName, PhotoNotFound, StorageFull

MIB = 1024 * 1024
PHOTO_EXTENSIONS = ("dng", "jpg")
SIDECAR_EXTENSION = "json"
TMP_PREFIX = ".tmp-"
#: Size of one capture before any is on the card: a 12.3 MP 16-bit DNG (4056 × 3040 × 2 bytes)
#: plus its JPEG and preview (a few MB); replaced by the average of the latest captures.
FIRST_SHOT_BYTES = 4056 * 3040 * 2 + 6_000_000
#: How many of the latest captures the shots-left estimate averages.
ESTIMATE_FROM = 20
THUMBS_DIR = ".thumbs"
SPOOL_DIR = ".spool"
COUNTER_FILE = ".photo-counter"
COUNTER_BLOCK = 16
THUMB_MAX_SIDE = 320

_STEM = r"MRIG_(\d{8})_(\d{6})_(\d{4,9})"
STEM_RE = re.compile(_STEM)
PHOTO_FILE_RE = re.compile(rf"{_STEM}\.(dng|jpg)")
_SIDECAR_RE = re.compile(rf"{_STEM}\.json")
#: Room for file-system metadata and block rounding per file when predicting a capture's size.
_PER_FILE_SLACK = 64 * 1024
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}
_FULL = {errno.ENOSPC, errno.EDQUOT}


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (new names, removals) to the card."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _full_error(path: Path, e: OSError) -> StorageFull:
    err = StorageFull(
        errno.ENOSPC, f"storage full: no room left to write {path.name} ({e.strerror})"
    )
    err.filename = str(path)
    return err


def remove_unfinished_writes(folder: Path) -> list[str]:
    """Delete the ``.tmp-*`` files :func:`atomic_write` left in ``folder`` when the process
    died mid-write (at start, before anything writes there); their names."""
    removed = []
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX) and not entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def atomic_write(
    path: Path,
    data: bytes | bytearray | memoryview,
    *,
    overwrite: bool = True,
    mode: int = 0o644,
    sync_folder: bool = True,
) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of ``data``.

    The data goes to a hidden ``.tmp-`` file in the same folder, is fsync-ed, and then
    replaces ``path`` (``overwrite=True``, for state files) or is linked to it only if the name
    is free (``overwrite=False``, for photos: :class:`FileExistsError` otherwise). The folder is
    fsync-ed afterwards (unless ``sync_folder`` is false: a caller writing several files into
    one folder fsyncs it once after the last). A full card raises :class:`StorageFull`; the
    temporary file is gone whatever happens.
    """
    folder = path.parent
    tmp = _create_temp(folder, path.name, mode)
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CLOEXEC)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            if overwrite:
                os.replace(tmp, path)
            else:
                _link_no_overwrite(tmp, path)
        except OSError as e:
            if e.errno in _FULL:
                raise _full_error(path, e) from e
            raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    if sync_folder:
        fsync_dir(folder)


def _create_temp(folder: Path, name: str, mode: int = 0o644) -> Path:
    while True:
        tmp = folder / f"{TMP_PREFIX}{name}-{secrets.token_hex(4)}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode))
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno in _FULL:
                raise _full_error(folder / name, e) from e
            raise
        return tmp


def _link_no_overwrite(tmp: Path, final: Path) -> None:
    """Give ``tmp`` the name ``final`` unless ``final`` exists (then :class:`FileExistsError`)."""
    try:
        os.link(tmp, final)
    except OSError as e:
        if e.errno not in _NO_HARD_LINKS:
            raise
        # A file system without hard links (FAT on a USB stick): check, then rename. The
        # store's lock makes this safe against our own writers; nobody else writes here.
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "photo exists", str(final)) from None
        os.rename(tmp, final)


def validate_name(name: str, *, allow_stem: bool = True) -> str:
    """Check a photo name from a URL; return it unchanged or raise :class:`InvalidPhotoName`.

    Refused: empty names, anything with ``/`` or ``\\``, NUL or other control characters,
    ``%`` (a still-encoded or double-encoded ``..``), names starting with a dot, and names
    that are not ``MRIG_YYYYMMDD_HHMMSS_NNNN`` with ``.dng`` or ``.jpg`` (or without an
    extension when ``allow_stem``).
    """
    if not isinstance(name, str) or not name:
        raise InvalidPhotoName("empty photo name")
    if len(name) > 64:
        raise InvalidPhotoName("photo name too long")
    if any(c in name for c in "/\\%") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidPhotoName(f"not a photo name: {name!r} (paths and encodings are refused)")
    if name.startswith(".") or os.path.isabs(name):
        raise InvalidPhotoName(f"not a photo name: {name!r}")
    if PHOTO_FILE_RE.fullmatch(name) or (allow_stem and STEM_RE.fullmatch(name)):
        return name
    raise InvalidPhotoName(
        f"not a photo name: {name!r} (expected MRIG_YYYYMMDD_HHMMSS_NNNN.dng or .jpg)"
    )


def _counter_of(stem: str) -> int:
    m = STEM_RE.fullmatch(stem)
    return int(m.group(3)) if m else -1


@dataclasses.dataclass(frozen=True)
class PhotoEntry:
    """One capture in the gallery: its files grouped by stem.

    ``time`` is the capture time the sidecar recorded (ISO 8601, the camera's clock, which may
    be wrong on a Pi without RTC) or the newest file's modification time without a sidecar.
    """

    name: str
    time: str
    size: int
    formats: tuple[str, ...]
    files: tuple[str, ...]
    lens: dict[str, Any] | None = None
    exposure: dict[str, Any] | None = None
    developing: bool = False
    """Its JPEG is still to be developed (it will appear as ``<name>.jpg``)."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PhotoPage:
    items: tuple[PhotoEntry, ...]
    total: int
    offset: int
    limit: int


class PhotoStore:
    """The photo folder: atomic saves, unique names, listing, validated access, thumbnails.

    Creating a store creates the folder if needed, removes stray temporary files and sidecars
    whose photos are gone, and reads the name counter.

    >>> store = PhotoStore(Path(tmp) / "photos")                  # doctest: +SKIP
    >>> store.save({"jpg": jpeg_bytes}, {"exposure": {...}})       # doctest: +SKIP
    ['MRIG_20261121_104512_0000.jpg']

    ``now`` gives the wall-clock time used in names; ``free_bytes`` may be injected to
    simulate a nearly full card in tests (the default asks the file system).
    """

    def __init__(
        self,
        folder: Path,
        *,
        state_dir: Path | None = None,
        reserve_bytes: int = 64 * MIB,
        now: Callable[[], dt.datetime] | None = None,
        free_bytes: Callable[[Path], int] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._root = self.folder.resolve()
        self.thumbs = self.folder / THUMBS_DIR
        self.thumbs.mkdir(exist_ok=True)
        self.spool = self.folder / SPOOL_DIR
        self.spool.mkdir(exist_ok=True)
        self.state_dir = Path(state_dir) if state_dir is not None else self.folder
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.reserve_bytes = int(reserve_bytes)
        self._now = now or dt.datetime.now
        self._free_bytes = free_bytes or _statvfs_free
        self._lock = threading.RLock()
        self.removed_at_start = self._recover()
        self._counter = self._load_counter()
        self._counter_stored = self._counter  # names below this one are free to use

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> PhotoStore:
        """The store for :class:`firmware.config.Settings`: ``<data_dir>/photos``, counter in
        ``<data_dir>``, reserve from ``storage.reserve_mib``."""
        data_dir = Path(settings.storage.data_dir)
        return cls(
            data_dir / "photos",
            state_dir=data_dir,
            reserve_bytes=settings.storage.reserve_mib * MIB,
            **kwargs,
        )

    # -- start-up -------------------------------------------------------------------------

    def _recover(self) -> list[str]:
        """Remove ``.tmp-*`` leftovers, spool entries whose shot is gone or developed, and
        sidecars without photos; return what was removed."""
        removed = []
        for folder in (self.folder, self.thumbs, self.spool):
            removed += remove_unfinished_writes(folder)
        names = set(os.listdir(self.folder))
        spooled = set(os.listdir(self.spool))
        for name in sorted(spooled):
            stem, _, ext = name.partition(".")
            has_dng = f"{stem}.dng" in names or f"{stem}.dng" in spooled
            marker = f"{stem}.{SIDECAR_EXTENSION}" in spooled
            developed = f"{stem}.jpg" in names
            # A marker whose DNG never got written (the press was not acknowledged), a spool
            # DNG whose marker went (its JPEG was saved), or either once the JPEG is there.
            if (ext == SIDECAR_EXTENSION and (not has_dng or developed)) or (
                ext == "dng" and (not marker or developed)
            ):
                os.unlink(self.spool / name)
                removed.append(f"{SPOOL_DIR}/{name}")
        spooled = set(os.listdir(self.spool))
        for name in sorted(names):
            m = _SIDECAR_RE.fullmatch(name)
            if m and not any(f"{name[:-5]}.{ext}" in names | spooled for ext in PHOTO_EXTENSIONS):
                os.unlink(self.folder / name)
                removed.append(name)
        if removed:
            fsync_dir(self.folder)
            fsync_dir(self.spool)
        return removed

    def close(self) -> None:
        """Store the exact counter (a clean stop leaves no gap in the names; after a crash the
        rest of the block taken is skipped)."""
        with self._lock:
            if self._counter_stored != self._counter:
                atomic_write(self.state_dir / COUNTER_FILE, f"{self._counter}\n".encode())
                self._counter_stored = self._counter

    def _load_counter(self) -> int:
        stored = 0
        with contextlib.suppress(OSError, ValueError):
            stored = int((self.state_dir / COUNTER_FILE).read_text().strip())
        highest = max((_counter_of(n.split(".")[0]) for n in os.listdir(self.folder)), default=-1)
        return max(stored, highest + 1)

    # -- space ----------------------------------------------------------------------------

    def free_bytes(self) -> int:
        return self._free_bytes(self.folder)

    def usage(self, typical_capture_bytes: int | None = None) -> dict[str, int]:
        """Free space, the reserve, and about how many captures still fit: free space above the
        reserve divided by ``typical_capture_bytes``. By default that is the mean size of the
        latest :data:`ESTIMATE_FROM` finished captures (one still developing has no JPEG yet
        and would read small), or :data:`FIRST_SHOT_BYTES` before there are any. The one
        estimate the gallery, the status bar and ``GET /api/photos`` all show."""
        free = self.free_bytes()
        if typical_capture_bytes is None:
            page = self.list(offset=0, limit=ESTIMATE_FROM)
            sizes = [e.size for e in page.items if e.size > 0 and not e.developing]
            typical_capture_bytes = round(sum(sizes) / len(sizes)) if sizes else FIRST_SHOT_BYTES
        room = max(0, free - self.reserve_bytes)
        return {
            "free_bytes": free,
            "reserve_bytes": self.reserve_bytes,
            "bytes_per_shot": typical_capture_bytes,
            "shots_left": room // max(1, typical_capture_bytes),
        }

    def check_space(self, needed_bytes: int) -> None:
        """Raise :class:`StorageFull` unless ``needed_bytes`` fit and leave the reserve free."""
        free = self.free_bytes()
        if free - needed_bytes < self.reserve_bytes:
            raise StorageFull(
                errno.ENOSPC,
                f"storage full: {free / MIB:.1f} MiB free, the capture needs "
                f"{needed_bytes / MIB:.1f} MiB and {self.reserve_bytes / MIB:.0f} MiB stay reserved",
            )

    # -- saving ---------------------------------------------------------------------------

    def _next_stem(self, when: dt.datetime) -> str:
        while True:
            n = self._counter
            self._counter += 1
            if self._counter > self._counter_stored:
                # Counters are taken COUNTER_BLOCK at a time: the file (two fsyncs) is written
                # once per block, not per shot. A crash skips the rest of a block; no name is
                # ever used twice.
                self._counter_stored = self._counter - 1 + COUNTER_BLOCK
                atomic_write(self.state_dir / COUNTER_FILE, f"{self._counter_stored}\n".encode())
            stem = f"MRIG_{when:%Y%m%d_%H%M%S}_{n:04d}"
            if not any(
                os.path.lexists(self.folder / f"{stem}.{ext}")
                for ext in (*PHOTO_EXTENSIONS, SIDECAR_EXTENSION)
            ):
                return stem

    def new_stem(self, when: dt.datetime) -> str:
        """A fresh capture name for a shot taken at ``when`` (never used before)."""
        with self._lock:
            return self._next_stem(when)

    def save_shot(
        self,
        stem: str,
        dng: bytes | bytearray | memoryview,
        info: Mapping[str, Any],
        *,
        keep_dng: bool,
        develop: bool,
        jpeg_bytes: int = 0,
    ) -> list[str]:
        """Save a shot's DNG before its JPEG exists: in the folder (``keep_dng``) or, for a
        JPEG-only shot, in the spool; with ``develop`` a spool marker is written first, so the
        JPEG is made even after a crash. ``jpeg_bytes`` is room the JPEG to come will need:
        a card without it refuses the shot now rather than its JPEG later. Returns the photo
        names the shot will have. All or nothing, like :meth:`save`."""
        if not keep_dng and not develop:
            raise ValueError("a shot keeps its DNG, its JPEG, or both")
        with self._lock:
            files = 1 + int(develop)
            self.check_space(len(dng) + develop * jpeg_bytes + (files + 2) * _PER_FILE_SLACK)
            marker = self.spool / f"{stem}.{SIDECAR_EXTENSION}"
            sidecar = {"captured_at": info.get("captured_at") or self._now().isoformat(
                timespec="seconds"), **info, "name": stem}
            written: list[Path] = []
            try:
                # Each file is fsync-ed as it is written, the folders once at the end: until
                # then a crash may keep any of them, and recovery drops a marker without its
                # DNG; the press is answered only after the folders are synced.
                if develop:
                    atomic_write(marker, b"{}", overwrite=False, sync_folder=False)
                    written.append(marker)
                path = self.folder / f"{stem}.{SIDECAR_EXTENSION}"
                atomic_write(path, json.dumps(sidecar, sort_keys=True, default=str).encode(),
                             overwrite=False, sync_folder=False)
                written.append(path)
                path = (self.folder if keep_dng else self.spool) / f"{stem}.dng"
                atomic_write(path, dng, overwrite=False, sync_folder=False)
                written.append(path)
                # The spool first: a marker must never be lost while its DNG stays.
                if develop or not keep_dng:
                    fsync_dir(self.spool)
                fsync_dir(self.folder)
            except BaseException:
                self._unlink_all(written)
                raise
        return [f"{stem}.{ext}" for ext, wanted in (("dng", keep_dng), ("jpg", develop)) if wanted]

    def _unlink_all(self, paths: list[Path]) -> None:
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        with contextlib.suppress(OSError):
            fsync_dir(self.folder)
            fsync_dir(self.spool)

    def pending(self) -> list[str]:
        """Stems whose JPEG is still to be developed, in press order."""
        stems = [n[: -len(SIDECAR_EXTENSION) - 1] for n in os.listdir(self.spool)
                 if _SIDECAR_RE.fullmatch(n)]
        return sorted(stems, key=lambda s: (_counter_of(s), s))

    def pending_dng(self, stem: str) -> Path | None:
        """The DNG a pending shot develops from, or ``None`` if the shot is no longer pending
        (deleted meanwhile)."""
        validate_name(stem)
        # Under the store's lock: a delete moving the DNG into the spool between the two looks
        # would otherwise read as "deleted" and the JPEG would never come.
        with self._lock:
            if not (self.spool / f"{stem}.{SIDECAR_EXTENSION}").is_file():
                return None
            for folder in (self.spool, self.folder):
                path = folder / f"{stem}.dng"
                if path.is_file() and not path.is_symlink():
                    return path
        return None

    def save_developed(self, stem: str, jpeg: bytes | bytearray | memoryview) -> str | None:
        """Save a pending shot's JPEG and end its pending state (its marker goes, and a
        JPEG-only shot's spool DNG). ``None`` when the shot was deleted meanwhile."""
        with self._lock:
            marker = self.spool / f"{stem}.{SIDECAR_EXTENSION}"
            if not marker.is_file():
                return None
            self.check_space(len(jpeg) + _PER_FILE_SLACK)
            path = self.folder / f"{stem}.jpg"
            atomic_write(path, jpeg, overwrite=False)
            os.unlink(marker)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.spool / f"{stem}.dng")
            fsync_dir(self.spool)
            return path.name

    def save(
        self, parts: Mapping[str, bytes | bytearray | memoryview], info: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Save one capture: ``parts`` maps ``"dng"``/``"jpg"`` to file contents, ``info``
        (``lens``, ``exposure``, …) goes to the sidecar. Returns the photo file names.

        All or nothing: on any error (a full card raises :class:`StorageFull`) every file of
        this capture is removed again and the error propagates.
        """
        if not parts:
            raise ValueError("nothing to save")
        for ext in parts:
            if ext not in PHOTO_EXTENSIONS:
                raise ValueError(f"unknown photo format {ext!r}; expected one of {PHOTO_EXTENSIONS}")
        with self._lock:
            captured_at = self._now()
            sidecar = {"captured_at": captured_at.isoformat(timespec="seconds"), **(info or {})}
            needed = sum(len(p) for p in parts.values()) + (len(parts) + 2) * _PER_FILE_SLACK
            self.check_space(needed)
            stem = self._next_stem(captured_at)
            sidecar["name"] = stem
            sidecar_bytes = json.dumps(sidecar, sort_keys=True, default=str).encode()
            written: list[Path] = []
            try:
                path = self.folder / f"{stem}.{SIDECAR_EXTENSION}"
                atomic_write(path, sidecar_bytes, overwrite=False)
                written.append(path)
                for ext in PHOTO_EXTENSIONS:
                    if ext in parts:
                        path = self.folder / f"{stem}.{ext}"
                        atomic_write(path, parts[ext], overwrite=False)
                        written.append(path)
            except BaseException:
                for p in written:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(p)
                with contextlib.suppress(OSError):
                    fsync_dir(self.folder)
                raise
            return [p.name for p in written[1:]]

    # -- listing --------------------------------------------------------------------------

    def _scan(self, *, with_pending: bool = False) -> dict[str, dict[str, os.stat_result]]:
        """Photo files by stem; ``with_pending`` adds JPEG-only shots still in the spool
        (their spool DNG under the key ``"spool"``)."""
        groups: dict[str, dict[str, os.stat_result]] = {}
        for entry in os.scandir(self.folder):
            m = PHOTO_FILE_RE.fullmatch(entry.name)
            if m and entry.is_file(follow_symlinks=False):
                stem, ext = entry.name.rsplit(".", 1)
                groups.setdefault(stem, {})[ext] = entry.stat(follow_symlinks=False)
        if with_pending:
            for entry in os.scandir(self.spool):
                m = PHOTO_FILE_RE.fullmatch(entry.name)
                if m and entry.name.endswith(".dng") and entry.is_file(follow_symlinks=False):
                    groups.setdefault(entry.name[:-4], {})["spool"] = entry.stat(
                        follow_symlinks=False)
        return groups

    def list(self, offset: int = 0, limit: int = 50) -> PhotoPage:
        """One page of the gallery, newest capture first (by the name counter, not the clock).

        Only regular photo files are listed: no temporary files, thumbnails or symlinks.
        """
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        groups = self._scan(with_pending=True)
        pending = set(self.pending())
        stems = sorted(groups, key=lambda s: (_counter_of(s), s), reverse=True)
        items = tuple(self._entry(s, groups[s], s in pending) for s in stems[offset : offset + limit])
        return PhotoPage(items=items, total=len(stems), offset=offset, limit=limit)

    def _entry(self, stem: str, files: dict[str, os.stat_result],
               developing: bool = False) -> PhotoEntry:
        info = self._sidecar(stem)
        newest = max(st.st_mtime for st in files.values())
        time = info.get("captured_at") or dt.datetime.fromtimestamp(newest).isoformat(
            timespec="seconds"
        )
        formats = tuple(ext for ext in PHOTO_EXTENSIONS if ext in files)
        return PhotoEntry(
            name=stem,
            time=str(time),
            size=sum(st.st_size for ext, st in files.items() if ext in PHOTO_EXTENSIONS),
            formats=formats,
            files=tuple(f"{stem}.{ext}" for ext in formats),
            lens=info.get("lens"),
            exposure=info.get("exposure"),
            developing=developing,
        )

    def _sidecar(self, stem: str) -> dict[str, Any]:
        path = self.folder / f"{stem}.{SIDECAR_EXTENSION}"
        try:
            if path.is_symlink():
                return {}
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def entry(self, name: str) -> PhotoEntry:
        """The gallery entry of one capture, by stem or file name."""
        stem = validate_name(name).split(".")[0]
        files = {
            ext: st
            for ext in PHOTO_EXTENSIONS
            if (st := self._lstat_regular(f"{stem}.{ext}")) is not None
        }
        if (st := self._lstat_regular(f"{SPOOL_DIR}/{stem}.dng")) is not None:
            files["spool"] = st
        if not files:
            raise PhotoNotFound(f"no photo named {name}")
        developing = (self.spool / f"{stem}.{SIDECAR_EXTENSION}").is_file()
        return self._entry(stem, files, developing)

    # -- access ---------------------------------------------------------------------------

    def _lstat_regular(self, filename: str) -> os.stat_result | None:
        try:
            st = os.lstat(self.folder / filename)
        except FileNotFoundError:
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def resolve(self, name: str) -> Path:
        """The path of photo file ``name`` (``MRIG_…_NNNN.dng`` or ``.jpg``) inside the folder.

        Malformed names raise :class:`InvalidPhotoName` (400). A name that does not exist, is
        not a regular file, or is a symlink resolving outside the folder raises
        :class:`PhotoNotFound` (404); such files are never read.
        """
        validate_name(name, allow_stem=False)
        path = self.folder / name
        try:
            target = path.resolve(strict=True)
        except (FileNotFoundError, RuntimeError):
            raise PhotoNotFound(f"no photo named {name}") from None
        if not target.is_relative_to(self._root) or target.parent != self._root:
            raise PhotoNotFound(f"no photo named {name}")
        if not target.is_file():
            raise PhotoNotFound(f"no photo named {name}")
        return target

    def delete(self, name: str) -> list[str]:
        """Delete one photo file, or with a stem every file of that capture. Returns the names
        deleted. The sidecar and thumbnail go when the capture's last photo goes; deleting a
        shot (or its JPEG) while it develops cancels the JPEG to come. Symlinks pointing
        outside the folder are refused (404) and left alone."""
        validate_name(name)
        stem = name.split(".")[0]
        targets = [name] if "." in name else [f"{stem}.{e}" for e in PHOTO_EXTENSIONS]
        with self._lock:
            if name.endswith(".dng") and self._spool_pending_dng(stem):
                return [name]
            dropped = ("." not in name or name.endswith(".jpg")) and self._drop_pending(stem)
            present = []
            for filename in targets:
                try:
                    self.resolve(filename)
                except PhotoNotFound:
                    continue
                present.append(filename)
            if not present and not dropped:
                raise PhotoNotFound(f"no photo named {name}")
            for filename in present:
                os.unlink(self.folder / filename)
            if not any(os.path.lexists(self.folder / f"{stem}.{e}") for e in PHOTO_EXTENSIONS):
                for leftover in (self.folder / f"{stem}.json", self.thumbs / f"{stem}.jpg"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(leftover)
            fsync_dir(self.folder)
            if dropped and f"{stem}.jpg" not in present:
                present.append(f"{stem}.jpg")  # the JPEG that will not come
            return present

    def _spool_pending_dng(self, stem: str) -> bool:
        """Deleting the DNG of a shot whose JPEG is still to come: the DNG moves to the spool
        (out of the gallery) until the JPEG is made from it, then goes. True if it did."""
        marker = self.spool / f"{stem}.{SIDECAR_EXTENSION}"
        if not marker.is_file() or self._lstat_regular(f"{stem}.dng") is None:
            return False
        os.rename(self.folder / f"{stem}.dng", self.spool / f"{stem}.dng")
        fsync_dir(self.spool)
        fsync_dir(self.folder)
        return True

    def _drop_pending(self, stem: str) -> bool:
        """Forget a shot's JPEG to come (its spool marker and spool DNG); True if it had one."""
        dropped = False
        for path in (self.spool / f"{stem}.{SIDECAR_EXTENSION}", self.spool / f"{stem}.dng"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                dropped = True
        if dropped:
            fsync_dir(self.spool)
        return dropped

    # -- thumbnails -----------------------------------------------------------------------

    def thumbnail(self, name: str) -> Path:
        """A cached JPEG thumbnail (at most 320 pixels a side) of a capture, by stem or file
        name; made from the JPEG (decoded at reduced scale) or else from the DNG's preview."""
        validate_name(name)
        stem = name.split(".")[0]
        sources = [f"{stem}.{ext}" for ext in ("jpg", "dng")]
        if "." in name:
            sources = [name]
        source = None
        for filename in sources:
            with contextlib.suppress(PhotoNotFound):
                source = self.resolve(filename)
                break
        if source is None and "." not in name:  # a JPEG-only shot still developing
            spooled = self.spool / f"{stem}.dng"
            if self._lstat_regular(f"{SPOOL_DIR}/{stem}.dng") is not None:
                source = spooled
        if source is None:
            raise PhotoNotFound(f"no photo named {name}")
        cached = self.thumbs / f"{source.stem}.jpg"
        with contextlib.suppress(FileNotFoundError):
            if not cached.is_symlink() and cached.stat().st_mtime_ns >= source.stat().st_mtime_ns:
                return cached
        atomic_write(cached, _make_thumbnail(source))
        return cached


def _make_thumbnail(source: Path) -> bytes:
    import simplejpeg

    from firmware.capture.preview import fit_within

    if source.suffix == ".jpg":
        data = source.read_bytes()
        rgb = simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_width=THUMB_MAX_SIDE, min_height=THUMB_MAX_SIDE // 2
        )
    else:
        from firmware.capture.dng import read_preview

        rgb = read_preview(source)
    thumb = fit_within(rgb, THUMB_MAX_SIDE, THUMB_MAX_SIDE)
    return simplejpeg.encode_jpeg(thumb, quality=80, colorspace="RGB", colorsubsampling="420")


def _statvfs_free(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize
