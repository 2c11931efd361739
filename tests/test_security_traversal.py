"""Path traversal on every route that takes a name (issue 7): encoded ``..``, absolute paths,
backslashes, NUL, symlinks out of the folder. Nothing outside may be read or deleted."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import simplejpeg
from fastapi.routing import APIRoute, iter_route_contexts

GOOD = "MRIG_20260101_120000_0001.jpg"
SECRET = b"SECRET-NOT-FOR-THE-WEB"

ATTACKS = [
    "..", ".", "../auth/password.json", "../../../../etc/passwd", "/etc/passwd",
    "..\\auth\\password.json", "C:\\Windows\\win.ini", f"{GOOD}\x00.png", f"{GOOD}\x00",
    "%2e%2e%2fauth%2fpassword.json", "%252e%252e%252f", "..%2f..%2fsecret.jpg", "....//auth",
    f"{GOOD}/../../auth/password.json", "~", "secret.jpg", "../secret.jpg", "../outside.jpg",
    "\u2215etc\u2215passwd", "\uff0e\uff0e\uff0fsecret.jpg", "%c0%ae%c0%ae/secret.jpg",
    ".photo-counter", ".thumbs", ".thumbs/x.jpg", "MRIG_20260101_120000_0002.jpg",
    "MRIG_20260101_120000_0003.jpg", "MRIG_20260101_120000_0002", "MRIG_20260101_120000_0003",
    "x" * 5000,
]


def _name_routes(app):
    """(method, path template, parameter) of every route with a path parameter."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.param_convertors:
            (param,) = route.param_convertors
            for method in route.methods:
                yield method, route.path, param


@pytest.fixture
def planted(client, settings, tmp_path):
    """A photo folder with one real photo, secrets beside it and symlinks pointing out."""
    data = Path(settings.storage.data_dir)
    photos = data / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    jpeg = simplejpeg.encode_jpeg(np.full((16, 16, 3), 128, np.uint8), colorspace="RGB")
    (photos / GOOD).write_bytes(jpeg)
    (data / "secret.jpg").write_bytes(SECRET)
    (tmp_path / "outside.jpg").write_bytes(SECRET)
    os.symlink(tmp_path / "outside.jpg", photos / "MRIG_20260101_120000_0002.jpg")
    os.symlink("../auth/password.json", photos / "MRIG_20260101_120000_0003.jpg")
    return data, photos


def test_every_named_route_refuses_traversal_and_touches_nothing_outside(client, planted, tmp_path):
    data, photos = planted
    password_file = data / "auth" / "password.json"
    password_text = password_file.read_bytes()
    routes = list(_name_routes(client.app))
    assert {("GET", "/api/photos/{name}"), ("DELETE", "/api/photos/{name}")} <= {
        (m, p) for m, p, _ in routes}
    tried = 0
    for method, template, param in routes:
        for attack in ATTACKS:
            # Fully encoded (dots too, so the client cannot fold them), and with / and % raw.
            variants = {quote(attack, safe="").replace(".", "%2E")}
            if attack not in (".", ".."):
                variants.add(quote(attack, safe="/%"))
            for encoded in variants:
                url = template.replace("{" + param + "}", encoded)
                body = {"name": "x", "focal_length_mm": 50, "max_f_number": 2} \
                    if method in ("PUT", "POST") else None
                r = client.request(method, url, json=body)
                tried += 1
                assert r.status_code in (400, 404, 405, 409, 422), (method, url, r.status_code)
                assert SECRET not in r.content and b"scrypt" not in r.content, (method, url)
    assert tried > 100
    # Nothing outside the folder (or the symlinks themselves) was deleted or changed.
    assert (data / "secret.jpg").read_bytes() == SECRET
    assert (tmp_path / "outside.jpg").read_bytes() == SECRET
    assert password_file.read_bytes() == password_text
    assert (photos / GOOD).is_file()
    assert (photos / "MRIG_20260101_120000_0002.jpg").is_symlink()
    # ...while the real photo is served: the refusals above are not a broken route.
    r = client.get(f"/api/photos/{GOOD}")
    assert r.status_code == 200 and r.content == (photos / GOOD).read_bytes()
    assert client.delete(f"/api/photos/{GOOD}").status_code == 200
    assert not (photos / GOOD).exists()


def test_unencoded_dot_segments_do_not_escape(client, planted):
    for path in ("/api/photos/../auth/password.json", "/api/photos/..%2Fsecret.jpg",
                 "/api/photos/%2e%2e/secret.jpg", "/static/../auth/password.json",
                 "/static/..%2F..%2Fauth%2Fpassword.json", "/static/%2e%2e/%2e%2e/app.py"):
        r = client.get(path)
        assert r.status_code in (400, 401, 404), path
        assert SECRET not in r.content and b"scrypt" not in r.content, path
