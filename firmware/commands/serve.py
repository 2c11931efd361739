"""``mrig serve``: run the camera and its web app."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from firmware.exc import ConfigError
from hal.select import CHOICES

if TYPE_CHECKING:
    from firmware.config import ServerSettings
    from firmware.tls import Certificate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the camera service and web UI")
    p.add_argument("--config", type=Path, help="TOML settings file (default /etc/mrig/config.toml if present)")
    p.add_argument("--camera", choices=CHOICES, help="camera backend")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--data-dir", type=Path, help="where photos and settings are kept")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from firmware.api.connections import protocol_factory
    from firmware.app import create_app
    from firmware.config import load_settings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # picamera2 logs every configuration it makes at INFO (a dozen lines at each start, from
    # probing the sensor modes); its warnings and errors still show.
    logging.getLogger("picamera2").setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config).with_overrides(
            camera={"backend": args.camera},
            server={"host": args.host, "port": args.port},
            storage={"data_dir": args.data_dir},
        )
        tls = _check_tls(settings.server)
    except ConfigError as e:
        print(f"mrig serve: {e}", file=sys.stderr)
        return 2
    app = create_app(settings)
    proxies = settings.server.trusted_proxies
    config = uvicorn.Config(
        app, host=settings.server.host, port=settings.server.port, log_level="info",
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: off unless configured.
        proxy_headers=bool(proxies), forwarded_allow_ips=",".join(proxies) or None,
        # A per-client connection cap and deadlines for the TLS handshake and the headers, TLS
        # included (firmware/api/connections.py); so not uvicorn's own ssl_* settings.
        http=protocol_factory(tls and tls.context, proxies),
    )
    if tls is not None:
        logging.getLogger("uvicorn.error").addFilter(_say_https)
        logging.getLogger("mrig").info(
            "HTTPS: %s. Check that your browser shows this fingerprint the first time.",
            tls.certificate.summary(),
        )
    server = uvicorn.Server(config)
    app.state.server = server  # READY=1 waits for server.started: the socket listens
    server.run()
    return 0


@dataclasses.dataclass(frozen=True)
class _Tls:
    certificate: Certificate
    context: ssl.SSLContext


def _check_tls(server: ServerSettings) -> _Tls | None:
    """The HTTPS certificate and the context that serves it, checked before anything starts
    (None: plain HTTP): a missing or mismatched file is a one-line refusal naming it."""
    if not server.https:
        return None
    from firmware.tls import RENEW_COMMAND, read_certificate, server_context

    context = server_context(server.tls_certfile, server.tls_keyfile)
    certificate = read_certificate(server.tls_certfile)
    # An ended (or ending) certificate is still served: the owner already accepts a
    # certificate nobody vouches for, and a camera that stopped answering on day 826 would
    # be worse. The journal says so at every start.
    ending = certificate.ending()
    if ending:
        logging.getLogger("mrig").warning(
            "%s: the HTTPS certificate %s (browsers warn of it); make a new one with: %s",
            server.tls_certfile, ending, RENEW_COMMAND)
    return _Tls(certificate, context)


def _say_https(record: logging.LogRecord) -> bool:
    """uvicorn announces "running on http://..." when it does not do the TLS itself."""
    if record.args and isinstance(record.args, tuple) and record.args[0] == "http" \
            and str(record.msg).startswith("Uvicorn running on"):
        record.args = ("https", *record.args[1:])
    return True
