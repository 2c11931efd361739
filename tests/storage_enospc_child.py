"""Child process for tests/test_storage.py: fill a real tiny tmpfs and report what happened.

Run as ``unshare --user --map-root-user --mount python storage_enospc_child.py DIR`` (or
``unshare --mount`` as root): it mounts a 2 MiB tmpfs on DIR inside its own mount namespace
(invisible to the rest of the machine, gone when it exits), saves photos until the card is
full, and prints a JSON report on stdout for the parent test to check. Exit status 77 means
the tmpfs could not be mounted here.
"""

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from firmware.exc import StorageFull
from firmware.storage import MIB, TMP_PREFIX, PhotoStore


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _error(e: BaseException) -> dict:
    return {
        "type": type(e).__name__,
        "storage_full": isinstance(e, StorageFull),
        "os_error": isinstance(e, OSError),
        "errno": getattr(e, "errno", None),
        "message": str(e),
    }


def _temps(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.startswith(TMP_PREFIX)
    )


def main(mountpoint: str) -> int:
    mnt = Path(mountpoint)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        print(f"cannot mount tmpfs: {r.stderr.strip()}", file=sys.stderr)
        return 77
    report: dict = {"fs_size": os.statvfs(mnt).f_blocks * os.statvfs(mnt).f_frsize}
    folder = mnt / "photos"
    store = PhotoStore(folder, state_dir=mnt, reserve_bytes=0)

    old = []
    for i in range(2):
        names = store.save(
            {"dng": os.urandom(300 * 1024), "jpg": os.urandom(100 * 1024)},
            {"exposure": {"exposure_time_us": 1000 * (i + 1)}},
        )
        old += names
    hashes = {n: _sha(folder / n) for n in old}
    report["old"] = old
    report["free_before"] = store.free_bytes()

    # 1. The pre-flight check predicts a capture that cannot fit.
    try:
        store.save({"dng": os.urandom(3 * MIB)})
        report["predicted"] = None
    except Exception as e:  # noqa: BLE001 - reported to the parent test
        report["predicted"] = _error(e)
    report["temps_after_predicted"] = _temps(folder)

    # 2. A real ENOSPC: a store whose pre-flight is fooled into thinking there is room.
    fooled = PhotoStore(folder, state_dir=mnt, reserve_bytes=0, free_bytes=lambda _: 1 << 40)
    try:
        fooled.save({"dng": os.urandom(1100 * 1024), "jpg": os.urandom(300 * 1024)})
        report["enospc"] = None
    except Exception as e:  # noqa: BLE001 - reported to the parent test
        report["enospc"] = _error(e)
    report["temps_after_enospc"] = _temps(folder)
    report["listing_after_enospc"] = [
        list(entry.files) for entry in fooled.list(limit=100).items
    ]
    report["old_intact"] = all(_sha(folder / n) == h for n, h in hashes.items())
    report["files_after_enospc"] = sorted(os.listdir(folder))

    # 3. The reserve: with 1 MiB reserved, a capture that would eat into it is refused.
    reserved = PhotoStore(folder, state_dir=mnt, reserve_bytes=store.free_bytes() - 100 * 1024)
    try:
        reserved.save({"jpg": os.urandom(200 * 1024)})
        report["reserve"] = None
    except Exception as e:  # noqa: BLE001 - reported to the parent test
        report["reserve"] = _error(e)

    # 4. The service stays usable: after deleting a photo, a capture succeeds again.
    store.delete(old[0].split(".")[0])
    report["after_delete_saved"] = store.save({"jpg": os.urandom(200 * 1024)})
    report["final_listing"] = [e.name for e in store.list().items]
    report["errno_enospc"] = errno.ENOSPC
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
