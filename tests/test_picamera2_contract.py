"""The picamera2 backend against picamera2's real source.

picamera2 cannot be imported off a Pi (its ``__init__`` imports libcamera), so its source is
installed without dependencies (the Makefile's ``pip install --no-deps picamera2==…``) and
read with :mod:`ast`. What the backend uses is read from the backend's own source the same
way, following the naming convention its module docstring states: the camera is
``self._picam2`` or ``picam2``, a completed request ``request``, a sensor mode ``entry``, a
stream configuration ``stream``, the module ``picamera2``. So the list of uses below cannot
drift from the code; a short hand-written list only guards against the convention breaking.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.metadata
import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import hal.picamera2_backend as backend

TESTS = Path(__file__).parent
INSTALL_HINT = (
    "picamera2's source is not installed, so the backend cannot be checked against it. "
    "`make test` installs it (`pip install --no-deps picamera2==<version pinned in the Makefile>`); "
    "by hand: `.venv/bin/python -m pip install --no-deps picamera2`."
)

# -- the real source ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Path:
    """The directory of the installed picamera2 package, found without importing it."""
    spec = importlib.machinery.PathFinder.find_spec("picamera2", sys.path)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def version() -> str:
    try:
        return importlib.metadata.version("picamera2")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@dataclass
class Member:
    kind: str  # "method", "property" or "attribute"
    params: list[str] = field(default_factory=list)  # after self, in order
    var_keyword: bool = False
    var_positional: bool = False


def _decorators(fn: ast.FunctionDef) -> set[str]:
    names = set()
    for d in fn.decorator_list:
        names.add(ast.unparse(d).split("(")[0])
    return names


def class_members(tree: ast.Module, name: str) -> dict[str, Member]:
    """Methods (all overloads merged), properties and ``self.x = …`` attributes of a class."""
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name)
    members: dict[str, Member] = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            decorators = _decorators(node)
            if "property" in decorators or any(d.endswith((".setter", ".getter")) for d in decorators):
                members[node.name] = Member("property")
                continue
            args = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
            if "staticmethod" not in decorators and "classmethod" not in decorators:
                args = args[1:]
            m = members.setdefault(node.name, Member("method"))
            m.params += [a for a in args if a not in m.params]
            m.var_keyword |= node.args.kwarg is not None
            m.var_positional |= node.args.vararg is not None
        elif isinstance(node, ast.Assign | ast.AnnAssign):  # class attributes
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    members.setdefault(target.id, Member("attribute"))
    for node in ast.walk(cls):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                members.setdefault(t.attr, Member("attribute"))
    return members


def module_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _function(tree: ast.Module, cls: str, name: str) -> ast.FunctionDef:
    klass = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
    return next(n for n in klass.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _str_subscripts(node: ast.AST, names: set[str]) -> set[str]:
    """String keys ``x["key"]`` used on any of ``names`` inside ``node``."""
    keys = set()
    for n in ast.walk(node):
        if (
            isinstance(n, ast.Subscript)
            and isinstance(n.value, ast.Name)
            and n.value.id in names
            and isinstance(n.slice, ast.Constant)
            and isinstance(n.slice.value, str)
        ):
            keys.add(n.slice.value)
    return keys


def _dict_keys(node: ast.AST) -> set[str]:
    return {k.value for k in getattr(node, "keys", []) if isinstance(k, ast.Constant)}


# -- what the backend uses ----------------------------------------------------------------


@dataclass
class Use:
    target: str  # "Picamera2", "CompletedRequest" or "module"
    name: str
    line: int
    called: bool
    existence_only: bool = False
    keywords: list[str] = field(default_factory=list)
    positional: int = 0
    keyword_values: dict[str, ast.AST] = field(default_factory=dict)


def _receiver(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and node.attr == "_picam2":
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            return "Picamera2"
    if isinstance(node, ast.Attribute) and node.attr == "Picamera2":  # picamera2.Picamera2.x
        if isinstance(node.value, ast.Name) and node.value.id == "picamera2":
            return "Picamera2"
    if isinstance(node, ast.Name):
        return {"picam2": "Picamera2", "request": "CompletedRequest", "picamera2": "module"}.get(node.id)
    return None


def _with_parents(tree: ast.AST) -> ast.AST:
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            child.parent = parent  # type: ignore[attr-defined]
    return tree


def uses_in(source: str) -> Iterator[Use]:
    tree = _with_parents(ast.parse(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (target := _receiver(node.value)):
            parent = node.parent  # type: ignore[attr-defined]
            call = parent if isinstance(parent, ast.Call) and parent.func is node else None
            yield Use(
                target,
                node.attr,
                node.lineno,
                called=call is not None,
                keywords=[k.arg for k in call.keywords if k.arg] if call else [],
                positional=len(call.args) if call else 0,
                keyword_values={k.arg: k.value for k in call.keywords if k.arg} if call else {},
            )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("hasattr", "getattr")
            and len(node.args) >= 2
            and (target := _receiver(node.args[0]))
            and isinstance(node.args[1], ast.Constant)
        ):
            yield Use(target, node.args[1].value, node.lineno, called=False, existence_only=True)


@pytest.fixture(scope="module")
def backend_source() -> str:
    return inspect.getsource(backend)


@pytest.fixture(scope="module")
def uses(backend_source) -> list[Use]:
    return list(uses_in(backend_source))


@pytest.fixture(scope="module")
def members(real) -> dict[str, dict[str, Member]]:
    return {
        "Picamera2": class_members(_parse(real / "picamera2.py"), "Picamera2"),
        "CompletedRequest": class_members(_parse(real / "request.py"), "CompletedRequest"),
    }


def _check(use: Use, members: dict[str, dict[str, Member]], exported: set[str]) -> list[str]:
    where = f"hal/picamera2_backend.py:{use.line}"
    if use.target == "module":
        if use.name not in exported:
            return [f"{where}: picamera2.{use.name} is not exported by picamera2/__init__.py"]
        if not use.called:
            return []
        target, name = "Picamera2", "__init__"  # the only class the backend instantiates
        assert use.name == "Picamera2", f"{where}: only picamera2.Picamera2 is checked for calls"
    else:
        target, name = use.target, use.name
    m = members[target].get(name)
    label = f"{target}.{name}"
    if m is None:
        return [f"{where}: {label} does not exist in picamera2"]
    if use.existence_only:
        return []
    if use.called and m.kind != "method":
        return [f"{where}: {label} is a {m.kind} in picamera2, not a method"]
    if not use.called and m.kind == "method":
        return [f"{where}: {label} is a method in picamera2 and must be called"]
    errors = []
    if use.called:
        unknown = [k for k in use.keywords if k not in m.params]
        if unknown and not m.var_keyword:
            errors.append(f"{where}: {label} has no parameter(s) {unknown}; it takes {m.params}")
        if use.positional > len(m.params) and not m.var_positional:
            errors.append(f"{where}: {label} takes at most {len(m.params)} positional arguments")
    return errors


# -- the tests ----------------------------------------------------------------------------


def test_the_uses_are_derived_from_the_backend(uses):
    """The naming convention holds: the calls the backend cannot work without are all seen."""
    seen = {(u.target, u.name) for u in uses}
    essential = {
        ("module", "Picamera2"),
        ("Picamera2", "sensor_modes"),
        ("Picamera2", "create_preview_configuration"),
        ("Picamera2", "create_still_configuration"),
        ("Picamera2", "configure"),
        ("Picamera2", "start"),
        ("Picamera2", "stop"),
        ("Picamera2", "close"),
        ("Picamera2", "set_controls"),
        ("Picamera2", "capture_request"),
        ("Picamera2", "cancel_all_and_flush"),
        ("Picamera2", "switch_mode_capture_request_and_stop"),
        ("Picamera2", "global_camera_info"),
        ("CompletedRequest", "get_metadata"),
        ("CompletedRequest", "release"),
    }
    assert essential <= seen, f"not found in the backend's source: {sorted(essential - seen)}"


def test_backend_uses_only_what_picamera2_has(real, version, uses, members):
    exported = module_names(_parse(real / "__init__.py"))
    errors = [e for use in uses for e in _check(use, members, exported)]
    assert not errors, f"against picamera2 {version}:\n" + "\n".join(errors)


def test_stream_and_sensor_settings_are_ones_picamera2_accepts(real, version, uses):
    tree = _parse(real / "picamera2.py")
    initial = _function(tree, "Picamera2", "_make_initial_stream_config")
    valid = next(
        {e.value for e in n.value.elts}
        for n in ast.walk(initial)
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "valid"
    )
    check = _function(tree, "Picamera2", "check_camera_config")
    allowed_sensor = next(
        {e.value for e in n.value.elts}
        for n in ast.walk(check)
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "allowed_keys"
    )
    creators = [u for u in uses if u.name.startswith("create_") and u.target == "Picamera2"]
    assert creators
    for use in creators:
        for stream in ("main", "raw"):
            keys = _dict_keys(use.keyword_values[stream])
            assert keys and keys <= valid, f"line {use.line}: {stream} keys {keys} vs {valid}"
        keys = _dict_keys(use.keyword_values["sensor"])
        assert keys and keys <= allowed_sensor, f"line {use.line}: sensor keys {keys}"


def test_keys_read_from_picamera2_dicts_exist(real, version, backend_source):
    tree = _parse(real / "picamera2.py")
    ours = ast.parse(backend_source)
    # Sensor modes: what Picamera2.sensor_modes writes into each entry.
    written = _str_subscripts(_function(tree, "Picamera2", "sensor_modes"), {"all_format", "cam_mode"})
    read = _str_subscripts(ours, {"entry"})
    assert read and read <= written, f"sensor mode keys {read - written} not in picamera2 {version}"
    # Stream configurations: what configure() fills in from libcamera.
    written = _str_subscripts(_function(tree, "Picamera2", "_update_stream_config"), {"stream_config"})
    read = _str_subscripts(ours, {"stream"})
    assert read and read <= written, f"stream keys {read - written} not in picamera2 {version}"
    # Camera configurations: the top-level keys the create_*_configuration methods build.
    build = _function(tree, "Picamera2", "create_still_configuration")
    config_keys = next(
        _dict_keys(n.value) for n in ast.walk(build)
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "config"
    )
    read = set()
    for n in ast.walk(ours):
        value = n.value if isinstance(n, ast.Subscript) else None
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get":
            value, key = n.func.value, n.args[0] if n.args else None
        elif value is not None:
            key = n.slice
        else:
            continue
        text = ast.unparse(value)
        if text.endswith(("request.config", "camera_configuration()", "_still_config")):
            assert isinstance(key, ast.Constant), ast.unparse(n)
            read.add(key.value)
    assert read and read <= config_keys, f"config keys {read - config_keys} not in {version}"


def test_rgb888_is_bgr_in_memory(real):
    """The backend reverses RGB888 to R, G, B because picamera2 treats it as B, G, R."""
    helpers = _function(_parse(real / "request.py"), "Helpers", "_get_pil_mode")
    table = next(n.value for n in ast.walk(helpers) if isinstance(n, ast.Assign))
    modes = {k.value: v.value for k, v in zip(table.keys, table.values, strict=True)}
    assert modes["RGB888"] == "BGR"


def test_zero_exposure_means_auto_in_picamera2(real):
    """With AE on the backend sends ExposureTime=0; picamera2 turns that into auto mode."""
    release = _function(_parse(real / "request.py"), "CompletedRequest", "release")
    text = ast.unparse(release)
    assert "ExposureTimeMode, 0" in text and "AnalogueGainMode, 0" in text


def test_captured_request_releases_the_request(real):
    """The context manager the backend relies on releases in a ``finally``."""
    fn = _function(_parse(real / "picamera2.py"), "Picamera2", "captured_request")
    assert "contextlib.contextmanager" in _decorators(fn)
    tries = [n for n in ast.walk(fn) if isinstance(n, ast.Try)]
    assert any("request.release()" in ast.unparse(t.finalbody[0]) for t in tries if t.finalbody)
