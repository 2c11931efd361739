"""Host allow-list (DNS rebinding), Origin and CSRF checks, on HTTP and WebSocket (issue 7)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from firmware.auth.hosts import HostAllowList, same_origin, split_host
from firmware.auth.middleware import SecurityMiddleware
from firmware.auth.passwords import ScryptCost
from firmware.auth.security import Security
from tests.conftest import TEST_PASSWORD

HOSTS = HostAllowList.for_server("mrig", ["camera.example.org"])

ALLOWED = [
    "127.0.0.1", "127.0.0.1:8000", "192.168.4.1:8000", "10.0.0.5:65535",
    "[::1]", "[::1]:8000", "[fe80::1%25wlan0]:8000", "[2001:db8::7]:80", "[::ffff:10.0.0.1]",
    "localhost", "localhost:8000", "LOCALHOST:8000", "mrig.local", "MRIG.local:8000",
    "mrig.local.:8000", "camera.example.org", "camera.example.org:443",
]
REFUSED = [
    "", "evil.example", "evil.example:8000", "mrig.local.evil.example", "evil.local",
    "mrig", "::1", "::1:8000", "[::1", "[::1]x", "[::1]:", "127.0.0.1:", "127.0.0.1:0",
    "127.0.0.1:99999", "127.0.0.1:8000:80", "127.0.0.1:+80", "127.1", "0x7f000001",
    "2130706433", "mrig.local@evil.example", "evil.example#mrig.local", "[evil.example]:80",
    "mrig.local/x", "mrig .local", "127.0.0.1:８０", "[::1]:８０", "localhost\x00.evil.example",
]


@pytest.mark.parametrize("host", ALLOWED)
def test_allowed_hosts(host):
    assert HOSTS.allows(host)


@pytest.mark.parametrize("host", REFUSED)
def test_refused_hosts(host):
    assert not HOSTS.allows(host)


def test_split_host_handles_ipv6_where_starlette_does_not():
    assert split_host("[::1]:8000") == ("::1", 8000)
    assert split_host("[2001:DB8::1]") == ("2001:db8::1", None)
    assert split_host("Mrig.Local:80") == ("mrig.local", 80)


def test_same_origin():
    assert same_origin("http://127.0.0.1:8000", "127.0.0.1:8000", "http")
    assert same_origin("http://[::1]:8000", "[::1]:8000", "http")
    assert same_origin("http://mrig.local", "mrig.local:80", "http")
    assert same_origin("http://127.0.0.1:8000", "127.0.0.1:8000", "ws")
    for origin in ("http://evil.example", "null", "http://127.0.0.1:8001", "https://127.0.0.1:8000",
                   "file://", "http://127.0.0.1:8000@evil.example", ""):
        assert not same_origin(origin, "127.0.0.1:8000", "http"), origin


def _every_route(app):
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            path = route.path
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", "x").replace("{" + name + ":path}", "x")
            yield sorted(route.methods)[0], path


def test_a_foreign_host_is_400_on_every_route(client, anon_client):
    paths = list(_every_route(client.app)) + [("GET", "/static/app.js"), ("GET", "/nothing")]
    assert ("GET", "/api/stream.mjpg") in paths and ("POST", "/api/setup") in paths
    for c in (client, anon_client):
        for method, path in paths:
            for host in ("evil.example", "evil.example:8000", "[::1"):
                r = c.request(method, path, headers={"host": host}, json={})
                assert r.status_code == 400, (method, path, host, r.status_code)
    assert client.get("/api/status", headers={"host": "[::1]:8000"}).status_code == 200
    assert client.get("/api/status", headers={"host": "mrig.local:8000"}).status_code == 200


def test_a_foreign_origin_is_403_even_with_a_session(client, anon_client):
    evil = {"origin": "http://evil.example"}
    assert client.patch("/api/controls", json={"ev": 1}, headers=evil).status_code == 403
    assert client.get("/api/status", headers=evil).status_code == 403
    assert client.get("/api/stream.mjpg", headers=evil).status_code == 403
    r = anon_client.post("/api/login", json={"password": TEST_PASSWORD}, headers=evil)
    assert r.status_code == 403 and "set-cookie" not in r.headers
    r = anon_client.post("/api/login", json={"password": TEST_PASSWORD},
                         headers={"origin": "null"})
    assert r.status_code == 403
    same = {"origin": "http://127.0.0.1:8000"}
    assert client.patch("/api/controls", json={"ev": 1}, headers=same).status_code == 200


def test_state_changes_need_the_sessions_csrf_token(client):
    token = client.headers.pop("X-CSRF-Token")
    assert client.patch("/api/controls", json={"ev": 1}).status_code == 403
    assert client.patch("/api/controls", json={"ev": 1},
                        headers={"X-CSRF-Token": token[:-1] + "x"}).status_code == 403
    assert client.post("/api/logout").status_code == 403
    assert client.get("/api/controls").status_code == 200  # reading needs no token
    assert client.patch("/api/controls", json={"ev": 1},
                        headers={"X-CSRF-Token": token}).status_code == 200


def test_another_sessions_csrf_token_does_not_work(client):
    other = TestClient(client.app, base_url=str(client.base_url))
    their = other.post("/api/login", json={"password": TEST_PASSWORD}).json()["csrf_token"]
    r = client.patch("/api/controls", json={"ev": 1}, headers={"X-CSRF-Token": their})
    assert r.status_code == 403


def test_no_get_changes_state(client, settings):
    """Every GET route, called with and without parameters, leaves the camera and files alone."""
    from pathlib import Path

    app = client.app
    service = app.state.service
    data = Path(settings.storage.data_dir)

    def snapshot():
        files = sorted((str(p.relative_to(data)), p.stat().st_size) for p in data.rglob("*")
                       if p.is_file() and ".thumbs" not in p.parts)
        camera = service.camera
        return (service.controls, files, len(app.state.security.sessions),
                getattr(camera, "lens", None), getattr(camera, "scene", None))

    before = snapshot()
    called = 0
    for method, path in _every_route(app):
        if method != "GET" or path in ("/api/stream.mjpg",) or "events" in path:
            continue
        for query in ("", "?exposure_time_us=1&format=dng&name=x&id=x&on=true"):
            r = client.get(path + query)
            assert r.status_code < 500, (path, r.status_code)
        called += 1
    assert called >= 5
    assert snapshot() == before


# --- the middleware on its own, with a WebSocket route -----------------------------------


@pytest.fixture
def ws_app(tmp_path):
    security = Security(tmp_path / "auth", HostAllowList(["localhost"]), cost=ScryptCost(n=2**10))
    security.passwords.set(TEST_PASSWORD)
    app = FastAPI()
    app.state.security = security

    @app.websocket("/ws/echo")
    async def echo(ws: WebSocket):
        await ws.accept()
        await ws.send_text("hello " + str(ws.scope["mrig.session"].csrf_token == ""))
        await ws.close()

    @app.post("/api/login")
    def login():
        token, session = security.login(TEST_PASSWORD, "1.2.3.4")
        return {"token": token, "csrf": session.csrf_token}

    app.add_middleware(SecurityMiddleware, security=security, routes=lambda: app.routes)
    return app


def test_websocket_upgrade_checks_host_session_and_origin(ws_app):
    c = TestClient(ws_app, base_url="http://127.0.0.1:8000")
    with pytest.raises(WebSocketDenialResponse) as denied, c.websocket_connect("ws://127.0.0.1:8000/ws/echo"):
        pass
    assert denied.value.status_code == 401
    token = c.post("/api/login").json()["token"]
    c.cookies.set("mrig_session", token)
    with c.websocket_connect("ws://127.0.0.1:8000/ws/echo", headers={"origin": "http://127.0.0.1:8000"}) as ws:
        assert ws.receive_text() == "hello False"
    for headers, status in (({"origin": "http://evil.example"}, 403),
                            ({"origin": "null"}, 403),
                            ({"host": "evil.example"}, 400)):
        with pytest.raises(WebSocketDenialResponse) as denied, \
                c.websocket_connect("ws://127.0.0.1:8000/ws/echo", headers=headers):
            pass
        assert denied.value.status_code == status


def test_websocket_denial_without_the_http_response_extension_closes_before_accept(ws_app):
    sent = []

    async def run():
        scope = {"type": "websocket", "path": "/ws/echo", "raw_path": b"/ws/echo",
                 "headers": [(b"host", b"evil.example")], "query_string": b"",
                 "scheme": "ws", "extensions": {}}
        messages = [{"type": "websocket.connect"}]

        async def receive():
            return messages.pop(0)

        async def send(message):
            sent.append(message)

        await ws_app.build_middleware_stack()(scope, receive, send)

    import asyncio

    asyncio.run(run())
    assert sent == [{"type": "websocket.close", "code": 1008,
                     "reason": "host not allowed: use the camera's address"}]


def test_two_host_headers_are_refused(ws_app):
    async def run():
        scope = {"type": "http", "method": "GET", "path": "/api/login", "raw_path": b"/api/login",
                 "headers": [(b"host", b"localhost"), (b"host", b"evil.example")],
                 "query_string": b"", "scheme": "http"}
        sent = []

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            sent.append(message)

        await ws_app.build_middleware_stack()(scope, receive, send)
        return sent

    import asyncio

    assert asyncio.run(run())[0]["status"] == 400
