"""The manual lens registry: M lenses have no electronics, so the user says what is mounted.

Built-in presets (read-only, ids starting ``preset-``) cover common M-mount lenses; the user
adds their own. The registry and the current lens (which lens, and the f-number its aperture
ring is set to) live in ``<data_dir>/lenses.json``, written atomically
(:func:`firmware.storage.atomic_write`). Preset facts are focal length and aperture range
from the makers' published specifications.

The current lens goes into every capture's DNG and EXIF as :class:`LensTags`, and the UI shows
the optics derived from it (:mod:`firmware.optics`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from firmware import optics
from firmware.capture.shot import LensTags
from firmware.exc import ApertureOutOfRange, LensIsPreset, LensNotFound
from firmware.storage import atomic_write

log = logging.getLogger(__name__)
LENSES_FILE = "lenses.json"
#: The smallest aperture assumed when a lens does not say (most M lenses stop at f/16 or f/22).
DEFAULT_MIN_F_NUMBER = 22.0


class LensSpec(BaseModel):
    """A lens as the user describes it. ``max_f_number`` is the widest aperture (the small
    number, f/2 on a Summicron); ``min_f_number`` the smallest (f/16). ``code`` is the 6-bit
    Leica lens code, when known."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=80)
    make: str = Field("", max_length=40)
    focal_length_mm: float = Field(ge=4, le=1000)
    max_f_number: float = Field(ge=0.7, le=32)
    min_f_number: float | None = Field(None, ge=0.7, le=64)
    code: int | None = Field(None, ge=0, le=63)

    @model_validator(mode="after")
    def _aperture_range(self) -> LensSpec:
        if self.min_f_number is not None and self.min_f_number < self.max_f_number:
            raise ValueError(
                "min_f_number (smallest aperture, e.g. 16) must not be below "
                "max_f_number (widest aperture, e.g. 2)"
            )
        return self

    @property
    def f_number_range(self) -> tuple[float, float]:
        return self.max_f_number, self.min_f_number or max(DEFAULT_MIN_F_NUMBER, self.max_f_number)


class Lens(LensSpec):
    """A lens in the registry: the spec plus its ``id``; presets cannot be changed."""

    id: str = Field(min_length=1, max_length=80)
    preset: bool = False


class LensSetting(BaseModel):
    """What ``PUT /api/lens`` takes: which lens is mounted (``None``: none / unknown) and the
    f-number the ring is set to (``None``: the lens's widest)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str | None = None
    f_number: float | None = Field(None, ge=0.7, le=64)


class CurrentLens(BaseModel):
    """The mounted lens, its ring setting and the derived optics for the UI."""

    id: str | None
    f_number: float | None
    lens: Lens | None
    optics: dict[str, Any] | None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "lens"


def _preset(make: str, name: str, focal: float, widest: float, smallest: float) -> Lens:
    return Lens(id=f"preset-{_slug(f'{make} {name}')}", preset=True, make=make, name=name,
                focal_length_mm=focal, max_f_number=widest, min_f_number=smallest)


#: Common M-mount lenses: name, focal length and aperture range as their makers publish them.
PRESETS: tuple[Lens, ...] = (
    _preset("Leica", "Elmarit-M 28 f/2.8 ASPH", 28, 2.8, 16),
    _preset("Leica", "Summicron-M 28 f/2 ASPH", 28, 2.0, 16),
    _preset("Leica", "Summicron-M 35 f/2 ASPH", 35, 2.0, 16),
    _preset("Leica", "Summilux-M 35 f/1.4 ASPH", 35, 1.4, 16),
    _preset("Leica", "Summicron-M 50 f/2", 50, 2.0, 16),
    _preset("Leica", "Summilux-M 50 f/1.4 ASPH", 50, 1.4, 16),
    _preset("Leica", "Noctilux-M 50 f/0.95 ASPH", 50, 0.95, 16),
    _preset("Leica", "APO-Summicron-M 90 f/2 ASPH", 90, 2.0, 16),
    _preset("Voigtlander", "Color-Skopar 21 f/4", 21, 4.0, 22),
    _preset("Voigtlander", "Color-Skopar 35 f/2.5", 35, 2.5, 22),
    _preset("Voigtlander", "Nokton classic 40 f/1.4", 40, 1.4, 16),
    _preset("Zeiss", "Biogon T* 35 f/2 ZM", 35, 2.0, 22),
    _preset("7Artisans", "35 f/2", 35, 2.0, 16),
)


class LensRegistry:
    """Presets plus the user's lenses, and the current lens, persisted in one JSON file.

    >>> reg = LensRegistry(Path(tmp) / "lenses.json")                    # doctest: +SKIP
    >>> reg.set_current(LensSetting(id="preset-leica-summicron-m-50-f-2", f_number=2.8))  # doctest: +SKIP
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._user: dict[str, Lens] = {}
        self._current: tuple[str, float] | None = None
        self._on_mount: list[Callable[[CurrentLens], None]] = []
        self._load()

    @classmethod
    def from_settings(cls, settings: Any) -> LensRegistry:
        return cls(Path(settings.storage.data_dir) / LENSES_FILE)

    # -- persistence ----------------------------------------------------------------------

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_text())
            user = [Lens.model_validate({**d, "preset": False}) for d in doc.get("lenses", [])]
            current = doc.get("current")
        except FileNotFoundError:
            return
        except (OSError, ValueError, ValidationError, AttributeError) as e:
            # Keep the unreadable file for the user and start from the presets.
            backup = self.path.with_name(f"{self.path.name}.bad-{int(time.time())}")
            log.warning("%s is unreadable (%s); kept as %s", self.path, e, backup.name)
            self.path.replace(backup)
            return
        self._user = {lens.id: lens for lens in user if not lens.id.startswith("preset-")}
        if isinstance(current, dict) and current.get("id") is not None:
            with_default = LensSetting.model_validate(current)
            try:
                self._current = self._checked(with_default)
            except (LensNotFound, ApertureOutOfRange):
                self._current = None

    def _save(self) -> None:
        doc = {
            "lenses": [lens.model_dump(exclude={"preset"}) for lens in self._user.values()],
            "current": (
                {"id": self._current[0], "f_number": self._current[1]} if self._current else None
            ),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(doc, indent=1).encode())

    # -- lenses ---------------------------------------------------------------------------

    def list(self) -> list[Lens]:
        """Presets first, then the user's lenses in the order they were added."""
        with self._lock:
            return [*PRESETS, *self._user.values()]

    def get(self, lens_id: str) -> Lens:
        with self._lock:
            for lens in PRESETS:
                if lens.id == lens_id:
                    return lens
            try:
                return self._user[lens_id]
            except KeyError:
                raise LensNotFound(f"no lens with id {lens_id!r}") from None

    def add(self, spec: LensSpec) -> Lens:
        with self._lock:
            base = _slug(f"{spec.make} {spec.name}")
            if base.startswith("preset"):
                base = f"user-{base}"
            lens_id, n = base, 2
            while lens_id in self._user:
                lens_id, n = f"{base}-{n}", n + 1
            lens = Lens(id=lens_id, **spec.model_dump())
            self._user[lens_id] = lens
            self._save()
            return lens

    def update(self, lens_id: str, spec: LensSpec) -> Lens:
        with self._lock:
            self._writable(lens_id)
            lens = Lens(id=lens_id, **spec.model_dump())
            self._user[lens_id] = lens
            if self._current and self._current[0] == lens_id:
                lo, hi = lens.f_number_range
                self._current = (lens_id, min(max(self._current[1], lo), hi))
            self._save()
            return lens

    def delete(self, lens_id: str) -> None:
        with self._lock:
            self._writable(lens_id)
            del self._user[lens_id]
            if self._current and self._current[0] == lens_id:
                self._current = None
            self._save()

    def _writable(self, lens_id: str) -> None:
        if self.get(lens_id).preset:
            raise LensIsPreset(f"{lens_id} is a built-in preset; add your own lens to change it")

    # -- the mounted lens -----------------------------------------------------------------

    def _checked(self, setting: LensSetting) -> tuple[str, float] | None:
        if setting.id is None:
            return None
        lens = self.get(setting.id)
        lo, hi = lens.f_number_range
        f_number = lo if setting.f_number is None else setting.f_number
        if not lo - 1e-9 <= f_number <= hi + 1e-9:
            raise ApertureOutOfRange(
                f"f/{f_number:g} is outside {lens.name}'s range f/{lo:g} to f/{hi:g}"
            )
        return lens.id, f_number

    def set_current(self, setting: LensSetting) -> CurrentLens:
        """Mount a lens (``id``) with the ring at ``f_number`` (any value in the lens's range;
        ``None`` means wide open); ``id=None`` means no lens / unknown."""
        with self._lock:
            self._current = self._checked(setting)
            self._save()
            mounted = self.current()
        for listener in list(self._on_mount):
            listener(mounted)
        return mounted

    def on_mount(self, listener: Callable[[CurrentLens], None]) -> None:
        """Call ``listener`` with the current lens now and whenever another is mounted or its
        ring is turned (the virtual camera simulates whatever lens the user mounts)."""
        self._on_mount.append(listener)
        listener(self.current())

    def current(self) -> CurrentLens:
        with self._lock:
            if self._current is None:
                return CurrentLens(id=None, f_number=None, lens=None, optics=None)
            lens_id, f_number = self._current
            lens = self.get(lens_id)
            derived = optics.optics(lens.focal_length_mm, f_number).as_dict()
            return CurrentLens(id=lens_id, f_number=f_number, lens=lens, optics=derived)

    def lens_tags(self) -> LensTags | None:
        """The mounted lens for a capture's DNG and EXIF, or ``None``."""
        cur = self.current()
        if cur.lens is None:
            return None
        lens = cur.lens
        return LensTags(make=lens.make, model=lens.name, focal_length_mm=lens.focal_length_mm,
                        max_f_number=lens.max_f_number, min_f_number=lens.min_f_number,
                        f_number=cur.f_number)
