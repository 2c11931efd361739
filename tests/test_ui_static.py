"""The UI's files as the server hands them out: shell with a same-origin-only CSP, modules that
all resolve, a manifest whose icons exist at their stated sizes, no outside URL anywhere, and
the two read-only helpers (Kelvin table, storage)."""

from __future__ import annotations

import json
import re
import struct

from firmware.api.routes.ui import WEB_DIR
from isp.tuning import default_tuning

IMPORT_RE = re.compile(r"""(?:import|from)\s*(?:[^"';]*?\sfrom\s*)?["'](\.{1,2}/[^"']+)["']""")


def test_shell_and_assets_are_public_and_locked_to_this_origin(anon_client) -> None:
    page = anon_client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp
    for path in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
        answer = anon_client.get(path)
        assert answer.status_code == 200, path
    js = anon_client.get("/static/js/main.js")
    assert "javascript" in js.headers["content-type"]
    # The API itself still needs a login.
    assert anon_client.get("/api/controls").status_code == 401


def test_every_module_import_resolves() -> None:
    modules = sorted((WEB_DIR / "js").glob("*.js"))
    assert modules
    for module in modules:
        for target in IMPORT_RE.findall(module.read_text()):
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports {target}"


def test_no_outside_url_in_any_file() -> None:
    pattern = re.compile(r"(?:https?:)?//(?!127\.0\.0\.1)[a-z0-9-]+\.[a-z]", re.I)
    for path in WEB_DIR.rglob("*"):
        if path.suffix in {".html", ".css", ".js", ".webmanifest"}:
            text = path.read_text()
            # SVG namespaces are identifiers, not requests.
            text = text.replace("http://www.w3.org/2000/svg", "")
            assert not pattern.search(text), f"{path.name}: {pattern.search(text).group(0)}"


def test_manifest_icons_exist_at_their_sizes(anon_client) -> None:
    manifest = anon_client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    data = json.loads(manifest.text)
    assert data["start_url"] == "/" and data["display"] in ("fullscreen", "standalone")
    pngs = [icon for icon in data["icons"] if icon["type"] == "image/png"]
    assert {icon["sizes"] for icon in pngs} >= {"192x192", "512x512"}
    for icon in pngs:
        body = anon_client.get(icon["src"]).content
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", body[16:24])
        assert f"{width}x{height}" == icon["sizes"]


def test_kelvin_table_follows_the_tuning(client) -> None:
    table = client.get("/api/ui/kelvin").json()
    steps = table["steps"]
    kelvins = [row["kelvin"] for row in steps]
    assert kelvins == sorted(kelvins) and kelvins[1] - kelvins[0] == 100
    tuning = default_tuning(table["tuning"])
    for row in steps[:: max(1, len(steps) // 7)]:
        red, blue = tuning.colour_gains(row["kelvin"])
        assert row["colour_gains"] == [round(red, 4), round(blue, 4)]
    # Warmer light needs less red gain and more blue gain.
    assert steps[0]["colour_gains"][0] < steps[-1]["colour_gains"][0]
    assert steps[0]["colour_gains"][1] > steps[-1]["colour_gains"][1]


def test_storage_counts_space_and_shots(client) -> None:
    before = client.get("/api/ui/storage").json()
    assert before["photos"] == 0 and before["free_bytes"] >= 0
    assert before["shots_left"] == before["free_bytes"] // before["bytes_per_shot"]
    assert client.post("/api/capture", json={"format": "dng"}).status_code == 200
    after = client.get("/api/ui/storage").json()
    assert after["photos"] == 1
    listed = client.get("/api/photos").json()
    assert after["bytes_per_shot"] == listed["items"][0]["size"]
    # One estimate: the gallery's route and the status bar's agree.
    assert listed["shots_left"] == after["shots_left"]
