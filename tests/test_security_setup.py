"""First start with no password: only setup works, proven by the logged code or the button."""

from __future__ import annotations

import logging
import re

import pytest

from firmware.auth.setup import ButtonGate, SetupCode, normalise_code

NEW = "my first password"


@pytest.fixture
def fresh(make_client, camera, caplog):
    """A camera started for the first time (no password), and the setup code it logged."""
    with caplog.at_level(logging.WARNING, logger="firmware.auth"):
        client = make_client(camera, password=False)
    logged = [r.getMessage() for r in caplog.records if "setup code" in r.getMessage()]
    assert len(logged) == 1
    code = re.search(r"setup code ([A-Z2-9]{5}-[A-Z2-9]{5})", logged[0]).group(1)
    return client, code


def test_before_setup_only_setup_works(fresh):
    client, _ = fresh
    assert client.get("/api/status").status_code == 401
    assert client.patch("/api/controls", json={"ev": 1}).status_code == 401
    r = client.post("/api/login", json={"password": "anything at all"})
    assert r.status_code == 409 and "set" in r.json()["detail"]
    state = client.get("/api/setup").json()
    assert state == {"password_set": False, "setup_code_in_log": True, "button": "unavailable",
                     "button_hold_s": 3.0}
    assert client.get("/api/session").json() == {"authenticated": False, "password_set": False,
                                                 "csrf_token": None, "expires_in_s": None}


def test_setup_with_the_logged_code_sets_the_password_and_logs_in(fresh):
    client, code = fresh
    r = client.post("/api/setup", json={"password": NEW, "setup_code": code.lower()})
    assert r.status_code == 201
    assert "httponly" in r.headers["set-cookie"].lower()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    assert client.get("/api/status").status_code == 200
    assert client.patch("/api/controls", json={"ev": 0.5}).status_code == 200
    # The code is single-use and setup is closed for good.
    again = client.post("/api/setup", json={"password": "another password", "setup_code": code})
    assert again.status_code == 409
    assert client.get("/api/setup").json()["setup_code_in_log"] is False
    client.post("/api/logout")
    assert client.post("/api/login", json={"password": NEW}).status_code == 200


def test_wrong_setup_codes_are_refused_and_throttled(fresh):
    client, code = fresh
    for guess in ("AAAAA-AAAAA", "", code[:-1], code + "X"):
        r = client.post("/api/setup", json={"password": NEW, "setup_code": guess})
        assert r.status_code == 403
    r = client.post("/api/setup", json={"password": NEW})
    assert r.status_code == 403
    r = client.post("/api/setup", json={"password": NEW, "setup_code": code})
    assert r.status_code == 429  # five failures: even the right code waits a minute
    assert client.get("/api/setup").json()["password_set"] is False


def test_setup_validates_the_new_password(fresh):
    client, code = fresh
    r = client.post("/api/setup", json={"password": "short", "setup_code": code})
    assert r.status_code == 422
    assert client.get("/api/setup").json()["setup_code_in_log"] is True  # not used up


def test_no_setup_code_once_a_password_exists(client, caplog):
    assert client.get("/api/setup").json()["setup_code_in_log"] is False
    r = client.post("/api/setup", json={"password": NEW, "setup_code": "AAAAA-AAAAA"})
    assert r.status_code == 409
    assert client.post("/api/setup/button").status_code == 409


def test_setup_by_holding_the_gpio_shutter_button(make_client, camera, settings):
    """The 3 s hold of the real button (gpiozero MockFactory) confirms the waiting page."""
    on_gpio = settings.with_overrides(gpio={"enabled": True})
    client = make_client(camera, on_gpio, password=False)
    button = client.app.state.shutter.io.shutter
    assert client.get("/api/setup").json()["button"] == "idle"
    claim = client.post("/api/setup/button").json()
    assert claim["hold_s"] == 3.0 and claim["expires_in_s"] > 0
    assert client.get("/api/setup").json()["button"] == "waiting"
    # A second device is refused while one waits (the waiting claim is never swapped for
    # another under the owner's thumb), and each page follows only its own claim.
    second = client.post("/api/setup/button")
    assert second.status_code == 409 and "do not press it" in second.json()["detail"]
    status = client.post("/api/setup/button/status", json={"claim": claim["claim"]})
    assert status.json() == {"state": "waiting"}
    assert client.post("/api/setup/button/status",
                       json={"claim": "someone else's"}).json() == {"state": "ended"}
    r = client.post("/api/setup", json={"password": NEW, "button_claim": claim["claim"]})
    assert r.status_code == 403  # not pressed yet
    button._button.when_held()  # what gpiozero calls after hold_time (3 s) of a held button
    assert client.get("/api/setup").json()["button"] == "pressed"
    assert client.post("/api/setup/button/status",
                       json={"claim": claim["claim"]}).json() == {"state": "pressed"}
    r = client.post("/api/setup", json={"password": NEW, "button_claim": "forged"})
    assert r.status_code == 403
    r = client.post("/api/setup", json={"password": NEW, "button_claim": claim["claim"]})
    assert r.status_code == 201
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    assert client.get("/api/status").status_code == 200


def test_button_setup_is_404_without_a_button(fresh):
    client, _ = fresh
    assert client.post("/api/setup/button").status_code == 404


def test_button_claims_expire():
    now = [0.0]
    gate = ButtonGate(lambda: now[0], window_s=120)
    gate.attach()
    claim, _ = gate.arm()
    now[0] = 119
    gate.held()
    assert gate.confirmed(claim)
    gate.consume()
    claim, _ = gate.arm()
    now[0] += 121
    gate.held()  # too late: nobody is waiting any more
    assert not gate.confirmed(claim)
    assert gate.status() == "idle"
    gate.arm()  # and a new device may start waiting


def test_setup_codes_are_random_and_forgiving_to_type():
    codes = {SetupCode().issue() for _ in range(50)}
    assert len(codes) == 50
    code = SetupCode()
    text = code.issue()
    assert code.matches(text) and code.matches(text.lower().replace("-", " "))
    assert normalise_code(" ab-cd ") == "ABCD"
    assert not set(text) & set("01IO")
    code.consume()
    assert not code.matches(text)


def test_four_parallel_setups_with_the_right_code_set_one_password(fresh):
    """The code is taken under a lock before the password is hashed: one request wins."""
    import threading

    client, code = fresh
    codes: list[int] = []
    threads = [threading.Thread(target=lambda i=i: codes.append(client.post(
        "/api/setup", json={"setup_code": code, "password": f"password number {i}"}).status_code))
        for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes)[0] in (200, 201) and sum(c in (200, 201) for c in codes) == 1
    assert all(c in (200, 201, 403, 409) for c in codes), codes


def test_the_setup_code_survives_a_restart_until_a_password_is_set(tmp_path):
    from firmware.auth.setup import SetupCode

    first = SetupCode(tmp_path / "setup-code").issue()
    assert SetupCode(tmp_path / "setup-code").issue() == first  # the service restarted
    assert oct((tmp_path / "setup-code").stat().st_mode & 0o777) == "0o600"
    again = SetupCode(tmp_path / "setup-code")
    again.issue()
    again.consume()  # a password was set
    assert not (tmp_path / "setup-code").exists()
    assert SetupCode(tmp_path / "setup-code").issue() != first


def test_the_setup_code_is_the_last_thing_a_first_start_prints(tmp_path):
    """A real ``mrig serve`` on a fresh data folder: after uvicorn's own lines, the setup code
    in a frame, and nothing after it (the README's first start)."""
    import time

    from tests.crash_harness import Server

    log = tmp_path / "serve.log"
    server = Server(tmp_path / "data", log)
    try:
        deadline = time.monotonic() + 60
        while "setup code" not in log.read_text():
            assert time.monotonic() < deadline and server.proc.poll() is None, log.read_text()
            time.sleep(0.1)
        time.sleep(3)  # the camera's start, and anything else that would print
        lines = log.read_text().rstrip("\n").splitlines()
    finally:
        server.stop()
    start = max(i for i, line in enumerate(lines) if "Uvicorn running" in line)
    frame = lines[start + 1:]
    assert frame[0].startswith("WARNING firmware.auth:")
    box = frame[1:]
    assert box[0] == box[-1] and set(box[0]) == {"+", "-"}
    assert all(line.startswith("|  ") and line.endswith("  |") and len(line) == len(box[0])
               for line in box[1:-1])
    text = "\n".join(box)
    assert re.search(r"setup code [A-Z2-9]{5}-[A-Z2-9]{5}", text)
    assert f"http://127.0.0.1:{server.port}/" in text
