"""The phone UI in the two other engines phones use: WebKit (Safari's engine) through Debian's
``webkit2gtk-driver`` with Selenium, and Firefox ESR through its built-in Marionette protocol
(geckodriver is not packaged in Debian; ``marionette_driver`` speaks Marionette directly).

Each engine does what a new owner does first, on a fresh camera: the first-start setup with the
setup code from the server's log, the live view, a capture, the review of the photo and the
gallery. Any page error fails the test. Firefox reports every script error of the page, from its
first byte, through its console service (read in the browser's chrome context). WebKitWebDriver
has no log or BiDi endpoint, so there the page's ``error``, ``unhandledrejection`` and
``securitypolicyviolation`` events are collected from just after the page loads (the UI is one
page: they stay installed for the whole test); an error while the page's scripts load would
leave the login dialog unanswered and fail the test anyway.

Both run at the narrowest window their browser allows (MiniBrowser's toolbar and Firefox's
keep them near 450 and 500 CSS px): narrower than a tablet, wider than a phone. The phone sizes
themselves are measured in Chromium (``tests/test_ui_browser.py``). Screenshots go to
``test-artifacts/ui/``.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crash_harness import free_port
from tests.ui_server import (
    ARTIFACTS,
    CAPTURE_WAIT_MS,
    PASSWORD,
    WAIT_MS,
    Server,
    save_log,
    virtual_camera_server,
)

pytestmark = pytest.mark.browser

MINIBROWSER = Path("/usr/lib") / os.uname().machine.replace("x86_64", "x86_64-linux-gnu").replace(
    "aarch64", "aarch64-linux-gnu") / "webkit2gtk-4.1" / "MiniBrowser"
FIREFOX = Path("/usr/bin/firefox-esr")
#: The window asked for: a phone's (iPhone 13, CSS pixels); the browsers keep a wider minimum.
PHONE = (390, 844)
#: The widest the page may still be: the engines' minimum windows (see above).
MAX_WIDTH_PX = 520

#: Installed on the page right after it loads: the page's own errors, kept in the page.
COLLECT_ERRORS_JS = """
if (!window.__engineErrors) {
  window.__engineErrors = [];
  const keep = (text) => window.__engineErrors.push(String(text));
  window.addEventListener('error', (e) => keep(e.message || e.error || 'error'));
  window.addEventListener('unhandledrejection', (e) => keep('unhandled rejection: ' + e.reason));
  document.addEventListener('securitypolicyviolation',
      (e) => keep('CSP: ' + e.violatedDirective + ' ' + e.blockedURI));
}
"""


class Engine:
    """What the scenario needs of a browser, over either protocol: ``js`` runs a function body
    with ``arguments`` in the page and returns its value."""

    name = ""

    def open(self, url: str) -> None:
        raise NotImplementedError

    def js(self, body: str, *args):
        raise NotImplementedError

    def click(self, css: str) -> None:
        raise NotImplementedError

    def fill(self, css: str, text: str) -> None:
        raise NotImplementedError

    def png(self) -> bytes:
        raise NotImplementedError

    def engine_errors(self) -> list[str]:
        """Errors the engine itself reports beyond the page's events (none for WebKit)."""
        return []

    def quit(self) -> None:
        raise NotImplementedError

    # What both engines share.
    def wait(self, condition: str, timeout_ms: int = WAIT_MS, *args) -> object:
        """Polls ``return (condition)`` until it is truthy; fails with the condition's text."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            value = self.js(f"return ({condition});", *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: waited {timeout_ms} ms for {condition}")
            time.sleep(0.1)

    def errors(self) -> list[str]:
        return list(self.js("return window.__engineErrors || [];")) + self.engine_errors()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{self.name}-{name}.png").write_bytes(self.png())


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class WebKit(Engine):
    """MiniBrowser driven by WebKitWebDriver, which needs an X display: an Xvfb of its own (what
    ``xvfb-run`` starts, without the shell script whose clean-up a signal skips), numbered by
    Xvfb itself (``-displayfd``) so parallel runs never collide. Both end with the test."""

    name = "webkit"

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.remote.client_config import ClientConfig
        from selenium.webdriver.remote.remote_connection import RemoteConnection
        from selenium.webdriver.webkitgtk.options import Options

        self.driver = None
        self.procs: list[subprocess.Popen] = []
        try:
            read_fd, write_fd = os.pipe()
            self.procs.append(subprocess.Popen(
                ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            os.close(write_fd)
            with os.fdopen(read_fd) as pipe:
                display = pipe.readline().strip()
            if not display:
                raise RuntimeError("Xvfb did not start")
            port = free_port()
            self.procs.append(subprocess.Popen(
                ["WebKitWebDriver", f"--port={port}"], env={**os.environ, "DISPLAY": f":{display}"},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            options = Options()
            options.binary_location = str(MINIBROWSER)
            options.add_argument("--automation")
            deadline = time.monotonic() + 60
            while self.driver is None:  # the driver listens a moment after it starts
                try:
                    connection = RemoteConnection(
                        client_config=ClientConfig(remote_server_addr=f"http://127.0.0.1:{port}"))
                    self.driver = webdriver.Remote(connection, options=options)
                except Exception:
                    if time.monotonic() > deadline or self.procs[-1].poll() is not None:
                        raise
                    time.sleep(0.5)
            self.driver.set_window_size(*PHONE)
        except BaseException:
            self.quit()
            raise

    def open(self, url: str) -> None:
        self.driver.get(url)
        self.js(COLLECT_ERRORS_JS)

    def js(self, body: str, *args):
        return self.driver.execute_script(body, *args)

    def click(self, css: str) -> None:
        from selenium.webdriver.common.by import By
        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def fill(self, css: str, text: str) -> None:
        from selenium.webdriver.common.by import By
        field = self.driver.find_element(By.CSS_SELECTOR, css)
        field.clear()
        field.send_keys(text)

    def png(self) -> bytes:
        return self.driver.get_screenshot_as_png()

    def quit(self) -> None:
        try:
            if self.driver is not None:
                self.driver.quit()
        finally:
            for proc in reversed(self.procs):
                _stop(proc)


class Firefox(Engine):
    """Firefox ESR, headless, started and driven by ``marionette_driver`` with a fresh profile."""

    name = "firefox"

    def __init__(self, log: Path) -> None:
        from marionette_driver.marionette import Marionette

        self.marionette = Marionette(bin=str(FIREFOX), headless=True, port=free_port(),
                                     gecko_log=str(log), startup_timeout=120)
        try:
            self.marionette.start_session()
            self.marionette.set_window_rect(width=PHONE[0], height=PHONE[1])
        except BaseException:
            self.quit()
            raise

    def open(self, url: str) -> None:
        self.marionette.navigate(url)
        self.js(COLLECT_ERRORS_JS)

    def js(self, body: str, *args):
        return self.marionette.execute_script(body, script_args=list(args), sandbox=None)

    def click(self, css: str) -> None:
        self.marionette.find_element("css selector", css).click()

    def fill(self, css: str, text: str) -> None:
        field = self.marionette.find_element("css selector", css)
        field.clear()
        field.send_keys(text)

    def png(self) -> bytes:
        return base64.b64decode(self.marionette.screenshot(full=False))

    def engine_errors(self) -> list[str]:
        """Every script error (not warning) Firefox logged for a page: syntax errors in a
        module, uncaught exceptions, CSP refusals."""
        with self.marionette.using_context(self.marionette.CONTEXT_CHROME):
            return self.marionette.execute_script("""
                const E = Ci.nsIScriptError;
                return Services.console.getMessageArray()
                  .filter(m => m instanceof E && !(m.flags & E.warningFlag)
                          && /^https?:/.test(m.sourceName || ''))
                  .map(m => m.errorMessage + ' (' + m.sourceName + ':' + m.lineNumber + ')');
            """)

    def quit(self) -> None:
        self.marionette.cleanup()


def _webkit(tmp_path: Path) -> Engine:
    if not (MINIBROWSER.exists() and shutil.which("WebKitWebDriver") and shutil.which("Xvfb")):
        pytest.skip("WebKit needs webkit2gtk-driver and xvfb (apt-get install webkit2gtk-driver xvfb)")
    pytest.importorskip("selenium")
    return WebKit()


def _firefox(tmp_path: Path) -> Engine:
    if not FIREFOX.exists():
        pytest.skip("Firefox ESR is not installed (apt-get install firefox-esr)")
    pytest.importorskip("marionette_driver")
    return Firefox(tmp_path / "gecko.log")


@pytest.fixture(params=[_webkit, _firefox], ids=["webkit", "firefox"])
def engine(request, tmp_path) -> Iterator[Engine]:
    browser = request.param(tmp_path)
    yield browser
    browser.quit()


@pytest.fixture
def server(tmp_path, engine) -> Iterator[Server]:
    srv = virtual_camera_server(tmp_path)
    yield srv
    srv.stop()
    save_log(srv, f"{engine.name}-server.log")


@pytest.mark.timeout(900)  # two waits of up to CAPTURE_WAIT_MS on a busy machine
def test_first_start_live_view_capture_and_gallery(engine: Engine, server: Server) -> None:
    # The first start: the setup code from the camera's log, then the owner's password.
    engine.open(server.base + "/")
    engine.wait("document.querySelector('#login').open")
    engine.wait("!document.querySelector('#login-code-row').hidden")
    engine.fill("#login-code-row input", server.setup_code)
    engine.fill("input[name=password]", PASSWORD)
    engine.fill("input[name=password2]", PASSWORD)
    engine.click("#login-submit")
    engine.wait("!document.querySelector('#login').open")

    # The live view plays and the status bar shows what the camera did for its latest frame.
    engine.wait("document.querySelector('#stream').naturalWidth > 0")
    engine.wait("/^ISO \\d+$/.test(document.querySelector('#st-iso').textContent)")
    box = engine.js("const r = document.querySelector('#capture').getBoundingClientRect();"
                    "return [r.width, r.height, r.bottom <= innerHeight];")
    assert box[0] >= 44 and box[1] >= 44 and box[2], f"capture button {box}"
    assert engine.js("return innerWidth") <= MAX_WIDTH_PX
    engine.shot("live")

    # A capture: once the DNG is on the card the shot's thumbnail is on the gallery button.
    engine.click("#capture")
    engine.wait("!document.querySelector('#gallery-thumb').hidden", CAPTURE_WAIT_MS)

    # Review: the thumbnail opens the photo; the developed JPEG replaces the preview.
    engine.click("#gallery-btn")
    title = engine.wait("/MRIG_\\w+/.test(document.querySelector('#viewer-title').textContent)"
                        " && document.querySelector('#viewer-title').textContent")
    name = re.search(r"MRIG_\w+", title).group(0)
    engine.wait("document.querySelector('#viewer-img').dataset.full === 'true'", CAPTURE_WAIT_MS)
    engine.wait("document.querySelector('#viewer-img').naturalWidth === 4056")
    engine.shot("viewer")

    # The gallery lists it with its thumbnail loaded.
    engine.click("#viewer-all")
    engine.wait("document.querySelector('#gallery').open")
    engine.wait(f"document.querySelector('#thumbs [aria-label=\"Photo {name}\"]')")
    engine.wait("[...document.querySelectorAll('#thumbs img')]"
                ".every(i => i.complete && i.naturalWidth > 0)")
    assert "free" in engine.js("return document.querySelector('#gallery-space').textContent")
    engine.shot("gallery")

    assert engine.errors() == []
