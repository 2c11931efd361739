"""The camera's own HTTPS certificate: what it names, its fingerprint, when it ends.

The installer makes a self-signed certificate per device (``systemd/install.sh``, with
``openssl req -x509``). A phone cannot check a self-signed certificate against anyone, so the
owner checks it by eye: the browser's certificate viewer shows the SHA-256 fingerprint, and
``mrig serve``'s log, ``mrig selftest`` and the installer print the same one.

Python's ``ssl`` module checks that a key fits its certificate but does not decode a certificate
it is not verifying against, so the few fields wanted here are read from the DER (X.509:
RFC 5280 section 4.1; the subjectAltName extension: section 4.2.1.6) rather than adding a
crypto package for them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from pathlib import Path

from firmware.exc import ConfigError

#: Apple's platforms refuse TLS server certificates valid for more than 825 days
#: (support.apple.com/HT210176); the installer makes them for exactly that long.
VALID_DAYS = 825
#: The installer and the self-test say so this long before a certificate ends.
RENEW_BEFORE_DAYS = 30
#: What makes a new one.
RENEW_COMMAND = "sudo systemd/install.sh --new-certificate"

_SUBJECT_ALT_NAME = bytes.fromhex("551d11")  # OID 2.5.29.17, its DER body


@dataclasses.dataclass(frozen=True)
class Certificate:
    names: tuple[str, ...]
    """DNS names and IP addresses from subjectAltName: what browsers check the address against."""
    fingerprint_sha256: str
    """Colon-separated upper-case hex, as browsers and ``openssl x509 -fingerprint`` show it."""
    not_after: dt.datetime

    def days_left(self, now: dt.datetime | None = None) -> float:
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).total_seconds() / 86400

    def ending(self) -> str | None:
        """In words when the certificate is within :data:`RENEW_BEFORE_DAYS` of its end or past
        it ("ends in 5 days", "ENDED on 2029-03-09"); None while it has time."""
        days_left = self.days_left()
        if days_left <= 0:
            return f"ENDED on {self.not_after:%Y-%m-%d}"
        return f"ends in {days_left:.0f} days" if days_left < RENEW_BEFORE_DAYS else None

    def summary(self) -> str:
        return (
            f"certificate for {', '.join(self.names) or 'no names'}; "
            f"SHA-256 fingerprint {self.fingerprint_sha256}; "
            f"valid until {self.not_after:%Y-%m-%d}"
        )


def read_certificate(path: Path) -> Certificate:
    """The certificate in the PEM file ``path`` (the first one, if it holds a chain)."""
    try:
        pem = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the certificate ({e})") from None
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = pem.find(begin)
    stop = pem.find(end, start)
    if start < 0 or stop < 0:
        raise ConfigError(f"{path}: no PEM certificate in it")
    try:
        der = ssl.PEM_cert_to_DER_cert(pem[start:stop + len(end)])
        names, not_after = _decode(der)
    except (IndexError, ValueError) as e:  # binascii.Error and UnicodeError are ValueErrors
        raise ConfigError(f"{path}: not an X.509 certificate ({e})") from None
    digest = hashlib.sha256(der).hexdigest().upper()
    return Certificate(
        names=names,
        fingerprint_sha256=":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
        not_after=not_after,
    )


def check_key_pair(certfile: Path, keyfile: Path) -> None:
    """Refuse, in words, a certificate and key that the server could not serve with."""
    server_context(certfile, keyfile)


def server_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """The server's TLS settings: Python's defaults for a server (TLS 1.2 and up, its cipher
    choice), with this certificate and key; a refusal in words if they cannot serve."""
    for path in (certfile, keyfile):  # ssl's own errors do not say which file
        if not Path(path).is_file():
            raise ConfigError(f"{path}: no such file")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{path}: not readable by this user")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as e:
        raise ConfigError(
            f"{certfile} and {keyfile}: not a certificate and its key ({e.reason or e})"
        ) from None
    return context


# --- DER, only as far as needed -----------------------------------------------------------


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``pos``."""
    tag = der[pos]
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("bad length")
        length = int.from_bytes(der[pos:pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("truncated")
    return tag, pos, pos + length


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        element = _element(der, start)
        out.append(element)
        start = element[2]
    return out


def _time(der: bytes, element: tuple[int, int, int]) -> dt.datetime:
    tag, start, end = element
    text = der[start:end].decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049 (RFC 5280 4.1.2.5.1)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        raise ValueError("validity is not a time")
    return dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)


def _decode(der: bytes) -> tuple[tuple[str, ...], dt.datetime]:
    _, start, end = _element(der, 0)  # Certificate
    tbs = _element(der, start)  # TBSCertificate
    fields = _children(der, tbs[1], tbs[2])
    if fields[0][0] == 0xA0:  # [0] version, present from v2 on
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, then [1] [2] [3]
    validity = _children(der, fields[3][1], fields[3][2])
    not_after = _time(der, validity[1])
    names: list[str] = []
    for tag, e_start, _ in fields[6:]:
        if tag != 0xA3:  # [3] extensions
            continue
        for _, x_start, x_end in _children(der, *_element(der, e_start)[1:]):
            parts = _children(der, x_start, x_end)
            oid = der[parts[0][1]:parts[0][2]]
            if oid != _SUBJECT_ALT_NAME:
                continue
            value = parts[-1]  # OCTET STRING (after the optional critical flag)
            general_names = _element(der, value[1])
            for g_tag, g_start, g_end in _children(der, general_names[1], general_names[2]):
                if g_tag == 0x82:  # [2] dNSName
                    names.append(der[g_start:g_end].decode("ascii"))
                elif g_tag == 0x87:  # [7] iPAddress
                    names.append(str(ipaddress.ip_address(der[g_start:g_end])))
    return tuple(names), not_after
