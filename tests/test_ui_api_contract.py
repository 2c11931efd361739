"""Every API call the phone UI makes exists in the app's OpenAPI, with that method.

The UI once polled ``/api/capture/jobs/{id}`` while the server serves ``/api/jobs/{id}``: every
drive mode but Single broke on the phone while the API tests (with the right URL) passed. This
reads the calls out of ``firmware/web/js`` the way they are written there — ``api("METHOD",
"/api/...")``, ``get("/api/...")``, ``new EventSource("/api/...")``, URL strings and templates
— and checks each against ``/openapi.json``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware.app import create_app
from firmware.config import Settings

JS = Path(__file__).resolve().parents[1] / "firmware" / "web" / "js"
#: A string or template literal that starts with /api/.
_LITERAL = re.compile(r"""(["'`])(/api/[^"'`]*)\1""")
#: ``api("PATCH", <literal>`` : the method of the call the literal belongs to.
_METHOD = re.compile(r"""api\(\s*["'](GET|POST|PUT|PATCH|DELETE)["']\s*,\s*$""")


def ui_calls() -> list[tuple[str, str, str]]:
    """(method, path with {} for each template part, where) for every /api/ literal."""
    calls = []
    for file in sorted(JS.glob("*.js")):
        text = file.read_text(encoding="utf-8")
        for line_no, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith(("//", "*", "/*")):
                continue
            for m in _LITERAL.finditer(line):
                path = re.sub(r"\$\{[^}]*\}", "{}", m.group(2)).split("?", 1)[0]
                method = _METHOD.search(line[: m.start()])
                calls.append((method.group(1) if method else "GET", path, f"{file.name}:{line_no}"))
    return calls


@pytest.fixture(scope="module")
def openapi_paths() -> dict[str, set[str]]:
    spec = create_app(Settings()).openapi()
    return {path: {m.upper() for m in ops} for path, ops in spec["paths"].items()}


def _matches(ui_path: str, api_path: str) -> bool:
    pattern = re.escape(api_path)
    pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", pattern)
    concrete = ui_path.replace("{}", "x")
    return re.fullmatch(pattern, concrete) is not None


def test_the_ui_makes_calls_at_all():
    calls = ui_calls()
    assert len(calls) > 20
    # The method is read from the call around the literal: the shutter's POST is seen as one.
    assert ("POST", "/api/capture") in [(m, p) for m, p, w in calls if w.startswith("capture.js")]
    assert ("POST", "/api/jobs/{}/cancel") in [(m, p) for m, p, _ in calls]


def test_every_ui_call_exists_in_the_openapi(openapi_paths):
    missing = []
    for method, path, where in ui_calls():
        found = [api for api in openapi_paths if _matches(path, api)]
        if not any(method in openapi_paths[api] for api in found):
            missing.append(f"{where}: {method} {path}")
    assert not missing, "the UI calls routes the server does not have:\n" + "\n".join(missing)
