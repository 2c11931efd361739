"""Login, sessions, password storage and throttling (issue 7: authentication)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient

from firmware.auth.exc import TooManyAttempts
from firmware.auth.middleware import PUBLIC_API, UI_PAGES
from firmware.auth.passwords import PasswordStore, ScryptCost, check_new_password
from firmware.auth.sessions import IDLE_S, LIFETIME_S, SessionStore
from firmware.auth.throttle import FailureThrottle, client_key
from tests.conftest import BASE_URL, TEST_COST, TEST_PASSWORD
from tests.waiting import wait_until

STREAMING = ("/api/stream.mjpg",)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _routes(app):
    """(method, path) of every HTTP route in the app, path parameters filled in."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            path = route.path
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", "x").replace("{" + name + ":path}", "x")
            for method in sorted(route.methods):
                yield method, path


def test_every_route_but_login_and_setup_answers_401_without_a_session(anon_client):
    checked = 0
    for method, path in _routes(anon_client.app):
        if path in PUBLIC_API or (path in UI_PAGES and method == "GET"):
            continue
        r = anon_client.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.status_code)
        checked += 1
    assert checked >= 8
    for path in ("/docs", "/openapi.json", "/redoc", "/no/such/page", "/api/no-such"):
        assert anon_client.get(path).status_code == 401, path


def test_the_ui_shell_and_its_static_files_load_without_a_session(anon_client):
    """The login page must load before login; it holds no data."""
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    for method, path in _routes(anon_client.app):
        if method == "GET" and path == "/":
            assert anon_client.get("/").status_code == 200
    mounts = [r for r in anon_client.app.routes
              if isinstance(r, Mount) and isinstance(r.app, StaticFiles)]
    for mount in mounts:
        folder = Path(mount.app.directory)
        for file in sorted(p for p in folder.rglob("*") if p.is_file())[:5]:
            r = anon_client.get(f"{mount.path}/{file.relative_to(folder).as_posix()}")
            assert r.status_code == 200, file
        assert anon_client.get(f"{mount.path}/no-such-file.js").status_code == 404
        assert anon_client.post(f"{mount.path}/x.js").status_code == 401  # reading only
    assert anon_client.post("/").status_code == 401


def test_websocket_routes_refuse_without_a_session(anon_client):
    from starlette.testclient import WebSocketDenialResponse

    for route in iter_route_contexts(anon_client.app.routes):
        if isinstance(route.original_route, APIWebSocketRoute):
            with pytest.raises(WebSocketDenialResponse) as denied:
                with anon_client.websocket_connect(route.path):
                    pass
            assert denied.value.status_code == 401


def test_login_sets_a_strict_httponly_expiring_cookie_and_returns_the_csrf_token(anon_client):
    r = anon_client.post("/api/login", json={"password": TEST_PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert len(body["csrf_token"]) >= 32 and body["expires_in_s"] > 0
    cookie = r.headers["set-cookie"].lower()
    assert "mrig_session=" in cookie
    for attribute in ("httponly", "samesite=strict", "path=/", f"max-age={LIFETIME_S}"):
        assert attribute in cookie
    assert body["csrf_token"] not in r.headers["set-cookie"]
    assert anon_client.get("/api/status").status_code == 200
    info = anon_client.get("/api/session").json()
    assert info["authenticated"] and info["csrf_token"] == body["csrf_token"]


def test_wrong_password_is_401_and_sets_no_cookie(anon_client):
    r = anon_client.post("/api/login", json={"password": "not the password"})
    assert r.status_code == 401
    assert "set-cookie" not in r.headers
    assert anon_client.get("/api/status").status_code == 401


def test_a_forged_or_stale_cookie_is_refused(anon_client):
    anon_client.cookies.set("mrig_session", "forged-token-" + "a" * 40)
    assert anon_client.get("/api/status").status_code == 401


def test_logout_ends_the_session(client):
    token = client.cookies.get("mrig_session")
    r = client.post("/api/logout")
    assert r.status_code == 204
    assert client.get("/api/status").status_code == 401
    client.cookies.set("mrig_session", token)  # replaying the old cookie does not help
    assert client.get("/api/status").status_code == 401


def test_logout_needs_the_csrf_token(client):
    r = client.post("/api/logout", headers={"X-CSRF-Token": ""})
    assert r.status_code == 403
    assert client.get("/api/status").status_code == 200


def test_the_sessions_list_names_each_device_and_ends_one(client):
    phone_ua = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
    other = TestClient(client.app, base_url=BASE_URL, headers={"User-Agent": phone_ua})
    csrf = other.post("/api/login", json={"password": TEST_PASSWORD}).json()["csrf_token"]
    listed = client.get("/api/sessions").json()
    assert len(listed) == 2 and listed[0]["this_device"] and not listed[1]["this_device"]
    assert listed[1]["device"] == "Safari on iPhone"
    assert listed[1]["client"] and listed[1]["expires_in_s"] > 0
    assert phone_ua not in str(listed)  # only the words are kept
    # The other phone sees itself first.
    theirs = other.get("/api/sessions", headers={"X-CSRF-Token": csrf}).json()
    assert theirs[0]["device"] == "Safari on iPhone" and theirs[0]["this_device"]

    assert client.delete("/api/sessions/0000000000000000").status_code == 404
    assert client.delete(f"/api/sessions/{listed[1]['id']}").status_code == 204
    assert other.get("/api/status").status_code == 401
    assert [e["this_device"] for e in client.get("/api/sessions").json()] == [True]
    # Ending this device's own session is a logout.
    r = client.delete(f"/api/sessions/{listed[0]['id']}")
    assert r.status_code == 204 and "mrig_session=" in r.headers.get("set-cookie", "")
    assert client.get("/api/status").status_code == 401


def test_a_device_logged_out_from_another_stops_seeing_the_live_view(client):
    """Its session ended from the sessions list, the other phone's open live view and live
    events end too (they do not run on until the phone reconnects)."""
    import threading

    other = TestClient(client.app, base_url=BASE_URL)
    csrf = other.post("/api/login", json={"password": TEST_PASSWORD}).json()["csrf_token"]
    theirs = next(e for e in client.get("/api/sessions").json() if not e["this_device"])
    ended = {}

    def watch(path: str) -> None:
        with other.stream("GET", path, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status_code == 200
            got = 0
            for chunk in r.iter_bytes():
                got += len(chunk)
                if got and "first" not in ended.setdefault(path, {}):
                    ended[path]["first"] = True
            ended[path]["end"] = True

    threads = [threading.Thread(target=watch, args=(path,), daemon=True)
               for path in ("/api/stream.mjpg", "/api/live/events?map=false")]
    for t in threads:
        t.start()
    wait_until(lambda: all(ended.get(p, {}).get("first") for p in
                           ("/api/stream.mjpg", "/api/live/events?map=false")), timeout_s=30)
    assert client.delete(f"/api/sessions/{theirs['id']}").status_code == 204
    for t in threads:
        t.join(15)
    assert all(ended[p].get("end") for p in ended), ended


def test_password_change_ends_every_other_session(client):
    other = TestClient(client.app, base_url=BASE_URL)
    csrf = other.post("/api/login", json={"password": TEST_PASSWORD}).json()["csrf_token"]
    assert other.get("/api/status").status_code == 200
    wrong = client.post("/api/password", json={"current_password": "nope nope",
                                               "new_password": "a new password"})
    assert wrong.status_code == 403
    assert other.get("/api/status").status_code == 200  # a wrong attempt changes nothing
    r = client.post("/api/password", json={"current_password": TEST_PASSWORD,
                                           "new_password": "a new password"})
    assert r.status_code == 200 and r.json()["other_sessions_ended"] == 1
    assert client.get("/api/status").status_code == 200  # this session goes on
    assert other.get("/api/status").status_code == 401
    assert other.patch("/api/controls", json={"ev": 1},
                       headers={"X-CSRF-Token": csrf}).status_code == 401
    assert other.post("/api/login", json={"password": TEST_PASSWORD}).status_code == 401
    assert other.post("/api/login", json={"password": "a new password"}).status_code == 200


def test_a_password_set_from_the_shell_ends_all_sessions(client, settings):
    PasswordStore(Path(settings.storage.data_dir) / "auth", cost=TEST_COST).set("set from ssh")
    assert client.get("/api/status").status_code == 401


def test_new_passwords_are_checked(client):
    for bad in ("short", " " * 12, "tab\there ok", "x" * 1025):
        r = client.post("/api/password", json={"current_password": TEST_PASSWORD,
                                               "new_password": bad})
        assert r.status_code == 422, bad
        with pytest.raises(ValueError):
            check_new_password(bad)


def test_password_file_holds_a_scrypt_hash_only_readable_by_the_service(tmp_path):
    store = PasswordStore(tmp_path / "auth", cost=ScryptCost(n=2**10))
    assert not store.is_set() and not store.verify("anything at all")
    store.set("correct horse battery")
    text = store.path.read_text()
    assert "correct horse" not in text
    record = json.loads(text)
    assert record["scheme"] == "scrypt" and record["n"] == 2**10
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.folder).st_mode) == 0o700
    assert store.verify("correct horse battery")
    assert not store.verify("correct horse batterY")
    assert not [p for p in store.folder.iterdir() if p.name.startswith(".tmp-")]
    first = store.fingerprint()
    store.set("correct horse battery")  # same password, new salt: a new fingerprint
    assert store.fingerprint() != first
    assert json.loads(store.path.read_text())["salt"] != record["salt"]


def test_the_default_cost_is_the_interactive_scrypt_setting():
    cost = ScryptCost()
    assert (cost.n, cost.r, cost.p) == (2**15, 8, 1)
    assert cost.memory_bytes == 32 * 1024 * 1024
    with pytest.raises(ValueError):
        ScryptCost(n=1000)


def test_sessions_expire_when_idle_and_after_their_lifetime():
    clock = FakeClock()
    store = SessionStore(clock)
    token, _ = store.create("fp")
    clock.now += IDLE_S - 1
    assert store.get(token, "fp") is not None  # touched: idle time restarts
    clock.now += IDLE_S - 1
    assert store.get(token, "fp") is not None
    clock.now += IDLE_S
    assert store.get(token, "fp") is None
    busy, _ = store.create("fp")
    for _ in range(int(LIFETIME_S // (IDLE_S / 2)) + 1):
        clock.now += IDLE_S / 2
        store.get(busy, "fp")
    assert store.get(busy, "fp") is None  # used all along, but past its lifetime
    token, _ = store.create("fp")
    assert store.get(token, "another password") is None


def test_the_session_table_is_bounded():
    store = SessionStore(FakeClock(), limit=4)
    tokens = [store.create("fp")[0] for _ in range(10)]
    assert len(store) == 4
    assert store.get(tokens[0], "fp") is None and store.get(tokens[-1], "fp") is not None


def test_five_failures_a_minute_then_429_even_for_the_right_password(anon_client):
    for _ in range(5):
        assert anon_client.post("/api/login", json={"password": "wrong!"}).status_code == 401
    r = anon_client.post("/api/login", json={"password": TEST_PASSWORD})
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60


def test_throttle_window_slides_and_success_clears_it():
    clock = FakeClock()
    throttle = FailureThrottle(clock=clock)
    for _ in range(4):
        throttle.failed("192.0.2.7")
    throttle.check("192.0.2.7")
    throttle.failed("192.0.2.7")
    with pytest.raises(TooManyAttempts) as e:
        throttle.check("192.0.2.7")
    assert e.value.retry_after_s == 60
    throttle.check("192.0.2.8")  # other clients are not affected
    clock.now += 30
    with pytest.raises(TooManyAttempts) as e:
        throttle.check("192.0.2.7")
    assert e.value.retry_after_s == 30
    clock.now += 30
    throttle.check("192.0.2.7")
    throttle.failed("192.0.2.9")
    throttle.succeeded("192.0.2.9")
    for _ in range(4):
        throttle.failed("192.0.2.9")
    throttle.check("192.0.2.9")


def test_ipv6_clients_are_throttled_by_their_64():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    throttle = FailureThrottle(clock=FakeClock())
    for i in range(5):
        throttle.failed(f"2001:db8::{i + 1}")
    with pytest.raises(TooManyAttempts):
        throttle.check("2001:db8::ffff")


def test_throttle_table_is_bounded():
    throttle = FailureThrottle(clock=FakeClock(), max_clients=100)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(throttle._failures) == 100


def test_a_reconnecting_live_view_never_trips_the_throttle(client, anon_client):
    """A viewer that reconnects in a loop (logged in, or with an expired cookie) is no failure."""
    for _ in range(20):
        with client.stream("GET", "/api/snapshot.jpg") as r:
            assert r.status_code == 200
        assert anon_client.get("/api/stream.mjpg").status_code == 401
        assert anon_client.get("/api/status").status_code == 401
    assert anon_client.post("/api/login", json={"password": TEST_PASSWORD}).status_code == 200


def test_forty_parallel_wrong_logins_cost_five_hashes_at_most_two_at_once(anon_client,
                                                                          monkeypatch):
    """An attempt is counted before its password is hashed, and hashing is gated for the
    process: 40 wrong passwords sent at once from one client hash five times."""
    import threading

    from firmware.auth import passwords

    hashed, at_once, peak = [], [0], [0]
    lock = threading.Lock()
    real = passwords.hashlib.scrypt

    def counting(*args, **kwargs):
        with lock:
            hashed.append(1)
            at_once[0] += 1
            peak[0] = max(peak[0], at_once[0])
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                at_once[0] -= 1

    monkeypatch.setattr(passwords.hashlib, "scrypt", counting)
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(
        anon_client.post("/api/login", json={"password": "wrong password!"}).status_code))
        for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(set(codes)) == [401, 429] and codes.count(401) == 5
    assert len(hashed) <= 5 and peak[0] <= passwords.HASHES_AT_ONCE


def test_logins_waiting_for_a_hash_hold_no_worker_thread(anon_client, monkeypatch):
    """Logins queue for their hash in the event loop: with both hashes stuck, three more
    logins are waiting, yet no more than two are in a worker thread, and a route that needs a
    thread (the session, the owner's) still answers at once."""
    import threading
    import time

    from firmware.auth import passwords
    from firmware.auth.security import Security

    release = threading.Event()
    in_thread, peak = [0], [0]
    lock = threading.Lock()
    real_login = Security.login

    def slow_scrypt(*args, **kwargs):
        release.wait(30)
        return b"x" * 32

    def counting_login(self, *args, **kwargs):
        with lock:
            in_thread[0] += 1
            peak[0] = max(peak[0], in_thread[0])
        try:
            return real_login(self, *args, **kwargs)
        finally:
            with lock:
                in_thread[0] -= 1

    monkeypatch.setattr(passwords.hashlib, "scrypt", slow_scrypt)
    monkeypatch.setattr(Security, "login", counting_login)
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(
        anon_client.post("/api/login", json={"password": "wrong password!"}).status_code))
        for _ in range(5)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while in_thread[0] < passwords.HASHES_AT_ONCE and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # the other three have had time to take threads, if they could
    assert in_thread[0] == peak[0] == passwords.HASHES_AT_ONCE
    assert anon_client.get("/api/session").status_code == 200
    release.set()
    for t in threads:
        t.join(30)
    assert codes == [401] * 5 and peak[0] == passwords.HASHES_AT_ONCE


def test_a_16_mib_body_is_refused_unread_and_nothing_is_echoed(anon_client):
    big = b'{"password": "' + b"x" * (16 * 1024 * 1024) + b'"}'
    r = anon_client.post("/api/login", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 200
    assert r.json()["detail"] == "request too large: at most 8192 bytes"

    def chunks():
        for _ in range(64):
            yield b"x" * 1024  # 64 KiB, past the 8 KiB of a public route

    r = anon_client.post("/api/login", content=chunks(),
                         headers={"content-type": "application/json"})
    assert r.status_code == 413  # no Content-Length: stopped as it grows


def test_a_body_without_a_session_is_not_read_at_all(anon_client):
    """Private routes answer a client with no session 401 before its body is read, so a body
    that never comes holds nothing (not the request, not 64 KiB of the server's memory).
    Driven as the ASGI server would, with a body that never arrives."""
    import asyncio

    sent: list[dict] = []

    async def never() -> dict:
        await asyncio.sleep(3600)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PATCH",
        "scheme": "http", "path": "/api/controls", "raw_path": b"/api/controls",
        "query_string": b"", "root_path": "", "client": ("192.0.2.9", 5000),
        "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                    (b"content-length", b"60000")],
    }
    asyncio.run(asyncio.wait_for(anon_client.app(scope, never, send), 5))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 401


def test_422_answers_echo_no_password_and_no_nan(anon_client):
    for body in (b'{"password": NaN}', b'{"password": Infinity}', b'{"password": 12}'):
        r = anon_client.post("/api/login", content=body,
                             headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert "NaN" not in r.text or r.json()["detail"][0]["input"] == "(not shown)"
        assert all(item["input"] == "(not shown)" for item in r.json()["detail"])
    r = anon_client.post("/api/login", json={"password": "a" * 3000})
    assert r.status_code == 422 and "a" * 100 not in r.text


def test_nan_in_a_control_is_a_422_naming_it(client):
    r = client.patch("/api/controls", content=b'{"ev": NaN}',
                     headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    item = r.json()["detail"][0]
    assert item["loc"][-1] == "ev" and item["input"] == "nan"


def test_x_forwarded_for_is_not_believed_by_the_real_server(tmp_path):
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; mrig serve does not (unless
    server.trusted_proxies says so), so a local process cannot rotate past the throttle."""

    import httpx

    from tests.crash_harness import Server, set_password, wait_answering

    data = tmp_path / "data"
    data.mkdir()
    set_password(data)
    server = Server(data, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            wait_answering(http)
            codes = [http.post("/api/login", json={"password": "wrong guess!"},
                               headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                     for i in range(7)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    finally:
        server.stop()


def test_the_session_answer_is_never_cached_and_static_pages_carry_the_policy(client):
    assert client.get("/api/session").headers["cache-control"] == "no-store"
    page = client.get("/static/index.html")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


def test_set_password_at_a_terminal_does_not_show_the_password(tmp_path):
    """At a terminal the password is asked twice and not echoed (it was shown as typed)."""
    import os
    import pty
    import select
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(root)
        os.execv(sys.executable, [sys.executable, "-m", "firmware.cli", "set-password",  # noqa: S606
                                  "--data-dir", str(tmp_path)])
    seen = b""

    def read_until(text: bytes, timeout_s: float = 30) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout_s
        while text not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 1024)
                except OSError:
                    break

    read_until(b"New password:")
    os.write(fd, b"typed at a terminal 1\n")
    read_until(b"Repeat it:")
    os.write(fd, b"typed at a terminal 1\n")
    read_until(b"password set in")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"typed at a terminal" not in seen
    assert PasswordStore(tmp_path / "auth").verify("typed at a terminal 1")


def test_the_api_docs_load_nothing_from_outside(client, anon_client):
    for page, asset in (("/docs", "/static/docs/swagger-ui-bundle.js"),
                        ("/redoc", "/static/docs/redoc.standalone.js")):
        html = client.get(page)
        assert html.status_code == 200 and asset in html.text
        assert "cdn." not in html.text and "https://" not in html.text.replace(
            "https://fastapi.tiangolo.com", "")
        assert client.get(asset).status_code == 200
        assert anon_client.get(page).status_code == 401  # the pages need the login


def test_a_restart_does_not_log_the_owner_out(make_client, settings):
    """Sessions are kept (their tokens' hashes) in a 0600 file: a new server process on the
    same data folder accepts the owner's cookie and CSRF token."""
    from firmware.auth.sessions import COOKIE_NAME
    from hal.select import make_camera
    from tests.conftest import virtual_rig

    first = make_client(make_camera("virtual", rig=virtual_rig(seed=2)), ready=False)
    cookie = first.cookies.get(COOKIE_NAME)
    csrf = first.headers["X-CSRF-Token"]
    first.__exit__(None, None, None)  # the server stops
    path = Path(settings.storage.data_dir) / "auth" / "sessions.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert cookie not in path.read_text()  # only its hash
    again = make_client(make_camera("virtual", rig=virtual_rig(seed=3)), login=False,
                        ready=False)
    again.cookies.set(COOKIE_NAME, cookie)
    assert again.get("/api/status").status_code == 200
    assert again.get("/api/session").json()["csrf_token"] == csrf
    assert again.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code in (200, 204)
    assert again.get("/api/status").status_code == 401


def test_a_save_cut_short_leaves_nothing_behind_after_a_restart(tmp_path):
    """A power cut during a sessions (or password) save leaves a hidden temporary file; the
    next start removes it, and the kept sessions are read as they were."""
    from firmware.auth.hosts import HostAllowList
    from firmware.auth.security import Security

    auth = tmp_path / "auth"
    first = Security(auth, HostAllowList(["mrig"]), cost=TEST_COST)
    first.passwords.set(TEST_PASSWORD)
    token, _ = first.login(TEST_PASSWORD, "192.0.2.1")
    (auth / ".tmp-sessions.json-0a1b2c3d").write_text('[{"key": "half')
    again = Security(auth, HostAllowList(["mrig"]), cost=TEST_COST)
    assert [p.name for p in auth.iterdir() if p.name.startswith(".")] == []
    assert again.sessions.get(token, again.passwords.fingerprint()) is not None


def test_idle_half_sent_connections_cannot_lock_the_owner_out(tmp_path):
    """Connections that never finish their headers: beyond 32 from one address they are
    closed at once, the rest after 10 s; meanwhile the owner, from another address, is served."""
    import socket
    import time

    import httpx

    from tests.crash_harness import Server, closed, set_password, wait_answering

    data = tmp_path / "data"
    data.mkdir()
    set_password(data)
    server = Server(data, tmp_path / "serve.log")
    owner = httpx.Client(base_url=server.base_url, timeout=10,
                         transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    held: list[socket.socket] = []
    try:
        wait_answering(owner)
        slow_body = socket.create_connection(("127.0.0.1", server.port),
                                             source_address=("127.0.0.4", 0))
        slow_body.sendall(b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                          b"application/json\r\nContent-Length: 100\r\n\r\n{")  # and no more
        lying_get = socket.create_connection(("127.0.0.1", server.port),
                                             source_address=("127.0.0.4", 0))
        lying_get.sendall(b"GET /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Length: 5\r\n\r\n")  # a body that never comes
        lying_get.settimeout(5)
        assert lying_get.recv(64).startswith(b"HTTP/1.1 200")  # a GET's body is not awaited
        lying_get.close()
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
            held.append(s)
        start = time.monotonic()
        assert owner.get("/api/session").status_code == 200
        assert time.monotonic() - start < 5

        refused = sum(closed(s, 0.2) for s in held)
        assert refused >= 100 - 32  # over the cap: closed at once
        time.sleep(11)  # the header deadline, and the body's
        assert all(closed(s, 2.0) for s in held)
        slow_body.settimeout(5)
        assert slow_body.recv(64).startswith(b"HTTP/1.1 408")
        slow_body.close()
    finally:
        for s in held:
            s.close()
        owner.close()
        server.stop()


def test_the_overall_cap_never_stops_a_client_that_has_not_failed():
    throttle = FailureThrottle(clock=FakeClock(), overall_limit=30)
    for i in range(30):
        throttle.attempt(f"192.0.2.{i}")  # six addresses' worth of guesses
    with pytest.raises(TooManyAttempts):
        throttle.attempt("192.0.2.1")  # a guesser again
    throttle.attempt("198.51.100.1")  # the owner, who has not failed, still gets in


def test_sessions_saved_on_a_later_clock_do_not_outlive_their_time(tmp_path):
    """A Pi booting with its clock behind sees saved times "in the future": taken as now."""
    path = tmp_path / "sessions.json"
    wall = [2_000_000_000.0]
    mono = [1000.0]
    store = SessionStore(lambda: mono[0], path=path, wall_clock=lambda: wall[0])
    token, _ = store.create("fp")
    wall[0] -= 365 * 86400  # the next boot: a year behind
    again = SessionStore(lambda: mono[0], path=path, wall_clock=lambda: wall[0])
    assert again.get(token, "fp") is not None
    mono[0] += IDLE_S + 1  # a week idle on the monotonic clock
    assert again.get(token, "fp") is None
