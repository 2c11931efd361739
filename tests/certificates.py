"""A throwaway HTTPS certificate for tests, made with the same openssl the installer uses
(``systemd/install.sh`` ``make_certificate``; the installer's own is checked in
tests/test_security_https.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_certificate(
    folder: Path, *, days: int = 825, names: str = "DNS:localhost,IP:127.0.0.1", stem: str = "mrig",
) -> tuple[Path, Path]:
    """(certificate, key) in ``folder``: self-signed, ECDSA P-256, for ``names``."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", str(days), "-subj", "/CN=localhost", "-addext", f"subjectAltName={names}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def https_config(path: Path, cert: Path, key: Path) -> Path:
    """A config file that serves HTTPS with ``cert`` and ``key`` (small live view, no GPIO)."""
    path.write_text(
        f'[server]\nhttps = true\ntls_certfile = "{cert}"\ntls_keyfile = "{key}"\n'
        "[camera]\npreview_width = 640\npreview_height = 480\n[gpio]\nenabled = false\n"
    )
    return path
