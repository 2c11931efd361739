"""Settings for ``mrig serve``: a TOML file (``/etc/mrig/config.toml`` on the Pi) plus CLI flags.

Every key has a range or a set of allowed values, and unknown keys are errors, so a typo in
the config file stops the service with a message naming the key instead of being ignored.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from firmware.exc import ConfigError
from hal.select import CameraChoice

DEFAULT_CONFIG_PATH = Path("/etc/mrig/config.toml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraSettings(_Section):
    backend: CameraChoice = "auto"
    tuning: Literal["vc4", "pisp"] = "vc4"
    """Which libcamera tuning calibrates the ISP: vc4 for a Pi 4 and older, pisp for a Pi 5."""
    preview_width: int = Field(1024, ge=320, le=2028, multiple_of=2)
    preview_height: int = Field(768, ge=240, le=1520, multiple_of=2)
    zero_shutter_lag: bool = True
    """Run the live view in the sensor's full-resolution mode (10 fps on the HQ camera), so a
    still needs no mode switch and is the frame being exposed when the shutter is pressed.
    Off, the live view runs at up to 40 fps in the binned mode and a still waits for a mode
    switch (about half a second on a Pi): a smoother view, a slower shutter."""


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    hostname: str = "mrig"
    """Announced as ``<hostname>.local`` and accepted as a Host header."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra host names the web UI may be reached by (besides IP literals and localhost)."""
    max_streams: int = Field(8, ge=1, le=64)
    trusted_proxies: tuple[str, ...] = ()
    """Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed (none: the
    headers are ignored, so no local process can pose as another client to the throttle).
    IP addresses only: ``*`` would let any client choose its own address."""

    @field_validator("trusted_proxies")
    @classmethod
    def _ip_addresses(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            try:
                ipaddress.ip_address(proxy)
            except ValueError:
                raise ValueError(f"trusted_proxies: {proxy!r} is not an IP address") from None
        return proxies

    https: bool = False
    """Serve HTTPS with the certificate below instead of plain HTTP (systemd/README.md says
    what it gives and what it costs)."""
    tls_certfile: Path = Path("/etc/mrig/tls/mrig.crt")
    """The PEM certificate; the installer makes one per device."""
    tls_keyfile: Path = Path("/etc/mrig/tls/mrig.key")
    """Its private key (readable by root and the mrig group only)."""

    @property
    def scheme(self) -> str:
        return "https" if self.https else "http"


class StorageSettings(_Section):
    data_dir: Path = Path("data")
    reserve_mib: int = Field(64, ge=0, le=65536)
    """Free space kept on the card for the system; captures stop before eating into it."""
    buffer_frames: int = Field(0, ge=0, le=64)
    """Raw frames the shot buffer holds in memory on their way to the card; a press that finds
    it full is refused ("buffer full"). 0: from the Pi's memory (7 on a 1 GB Pi, 63 on 4 GB;
    see firmware/capture/pipeline.py)."""


class GpioSettings(_Section):
    """BCM pin numbers; see hardware/wiring.md. ``None`` leaves a part unused."""

    enabled: bool = True
    shutter_pin: int | None = Field(17, ge=0, le=27)
    led_pin: int | None = Field(27, ge=0, le=27)
    encoder_a_pin: int | None = Field(5, ge=0, le=27)
    encoder_b_pin: int | None = Field(6, ge=0, le=27)


class PowerSettings(_Section):
    """A UPS board without a kernel fuel-gauge driver (see hal/ups.py). Boards with one appear
    in ``/sys/class/power_supply`` and are read without any setting."""

    ups: Literal["none", "ina219"] = "none"
    ups_i2c_address: int = Field(0x42, ge=0x03, le=0x77)
    """0x42 for Waveshare's UPS HAT (two cells), 0x43 for its UPS HAT (C) (one cell)."""
    ups_cells: int = Field(2, ge=1, le=4)
    """Li-ion cells in series."""
    ups_i2c_bus: int = Field(1, ge=0, le=31)


class Settings(_Section):
    camera: CameraSettings = CameraSettings()
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    gpio: GpioSettings = GpioSettings()
    power: PowerSettings = PowerSettings()

    def with_overrides(self, **sections: dict[str, object]) -> Settings:
        """A copy with some keys replaced, e.g. ``with_overrides(server={"port": 9000})``;
        validated like the file."""
        data = self.model_dump()
        for section, values in sections.items():
            data[section].update({k: v for k, v in values.items() if v is not None})
        return _validate(data, "command line")


def _validate(data: dict, source: str) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None


def load_settings(path: Path | None = None) -> Settings:
    """Read settings from ``path``; with no path, from the system file if it exists."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.is_file():
            return Settings()
        path = DEFAULT_CONFIG_PATH
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    return _validate(data, str(path))
