"""The simulated rig behind the virtual libcamera: lens, light, clock, faults and the Pi's limits.

A :class:`VirtualRig` outlives every camera opened on it, as a real rig outlives a reopened
camera: the lens rings and the light stay where they were put. The virtual libcamera's
``CameraManager.singleton()`` lists the cameras of the rig :func:`install`-ed last.

Faults are scripted like gpiozero's ``MockPin`` or OctoPrint's virtual printer
(:class:`VirtualFaults`); each imitates what the Pi does, see ``hal/virtual/SOURCES.md``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, Literal

from hal.clock import Clock, RealClock
from hal.health import Health
from hal.virtual.optics import Lens

Platform = Literal["vc4", "pisp"]

#: CMA a Raspberry Pi OS Bookworm Pi 4 reserves for camera and display buffers by default
#: (``dtoverlay=vc4-kms-v3d`` sets ``cma-512``; 256 MiB on a 1 GB board: kernel
#: arch/arm/boot/dts/overlays/README, "vc4-kms-v3d" cma-*). The display takes its share.
DEFAULT_CMA_BYTES = 256 * 1024 * 1024


@dataclasses.dataclass
class VirtualFaults:
    """Faults to inject. Counters count down as they fire; flags stay until cleared."""

    frontend_timeout: bool = False
    """At the next frame the frontend (Unicam/CFE) stops receiving: libcamera logs "camera
    frontend has timed out", cancels the pending requests and stays in error, cancelling every
    request queued after, until the camera is stopped and started again."""
    disconnected: bool = False
    """The ribbon is out: acquire and configure fail with ENODEV and requests stop completing."""
    enomem_on_configure: int = 0
    """The next N configures fail with -ENOMEM, as when CMA is exhausted or fragmented."""
    busy_on_acquire: int = 0
    """The next N acquires fail with EBUSY, as when another process holds the camera."""
    slow_frames_s: float = 0.0
    """Extra time each frame takes to come back (a loaded ISP)."""


@dataclasses.dataclass(frozen=True)
class SceneLight:
    """The light on the test board."""

    lux: float = 800.0
    colour_temperature: float = 5000.0


@dataclasses.dataclass(frozen=True)
class ExtraCamera:
    """Another camera on the same Pi, to test identity: a USB webcam or a second CSI sensor."""

    model: str
    camera_id: str


class VirtualRig:
    """What the virtual cameras see and run on.

    Parameters
    ----------
    clock
        Time for the sensor's frame timing (a :class:`~hal.clock.SimulatedClock` in tests).
    seed
        Seeds the sensor's fixed pattern (hot pixels, PRNU) and its per-frame noise.
    platform
        ``"vc4"`` (Pi 4 and earlier: Unicam + VC4 ISP) or ``"pisp"`` (Pi 5: CFE + PiSP).
    cma_bytes
        Contiguous memory for camera buffers; configure and allocation fail beyond it.
    extra_cameras
        Cameras listed besides the HQ camera (they cannot be opened).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int | None = None,
        platform: Platform = "vc4",
        lens: Lens | None = None,
        light: SceneLight | None = None,
        cma_bytes: int = DEFAULT_CMA_BYTES,
        extra_cameras: tuple[ExtraCamera, ...] = (),
        hq_camera: bool = True,
        sensor_temperature_c: float = 40.0,
    ) -> None:
        self.clock = clock or RealClock()
        self.seed = seed
        self.platform = platform
        self.faults = VirtualFaults()
        self.cma_bytes = cma_bytes
        self.cma_used = 0
        self.extra_cameras = extra_cameras
        self.hq_camera = hq_camera
        self.sensor_temperature_c = sensor_temperature_c
        self.power = VirtualPower()
        """The rig's power and heat as :mod:`hal.health` reports them, set by the simulator."""
        self._lens = lens or Lens()
        self._light = light or SceneLight()
        self._lock = threading.Lock()
        self._pipelines: list[Any] | None = None
        self._listeners: list[Callable[[], None]] = []

    # --- what the photographer changes ---------------------------------------------------

    @property
    def lens(self) -> Lens:
        return self._lens

    def set_lens(self, **rings: Any) -> Lens:
        """Turn the rings (``focus_distance_m``, ``f_number``) or mount another lens
        (``focal_length_mm``...); raises ValueError out of the lens's range."""
        with self._lock:
            self._lens = self._lens.replace(**rings)
            return self._lens

    @property
    def light(self) -> SceneLight:
        return self._light

    def set_light(self, **light: float) -> SceneLight:
        with self._lock:
            self._light = dataclasses.replace(self._light, **light)
            return self._light

    # The names the simulator routes use (``/api/mock/scene``).
    scene = light
    set_scene = set_light

    # --- memory -------------------------------------------------------------------------

    def cma_allocate(self, nbytes: int) -> bool:
        """Take ``nbytes`` of CMA; False when it does not fit (the heap answers ENOMEM)."""
        with self._lock:
            if self.cma_used + nbytes > self.cma_bytes:
                return False
            self.cma_used += nbytes
            return True

    def cma_free(self, nbytes: int) -> None:
        with self._lock:
            self.cma_used = max(0, self.cma_used - nbytes)

    # --- cameras ------------------------------------------------------------------------

    def pipelines(self) -> list[Any]:
        """The cameras on this rig, in the order the camera manager lists them."""
        from hal.virtual.pipeline import ForeignCamera, Pipeline

        with self._lock:
            if self._pipelines is None:
                found: list[Any] = []
                if self.hq_camera:
                    found.append(Pipeline(self))
                found.extend(ForeignCamera(self, extra) for extra in self.extra_cameras)
                self._pipelines = found
            return list(self._pipelines)


_installed: VirtualRig | None = None
_install_lock = threading.Lock()


def install_rig(rig: VirtualRig) -> VirtualRig:
    """Make ``rig`` the one the virtual camera manager lists (see :func:`hal.virtual.install`)."""
    global _installed
    with _install_lock:
        _installed = rig
    return rig


def installed() -> VirtualRig:
    """The rig installed last; a default one if none was."""
    global _installed
    with _install_lock:
        if _installed is None:
            _installed = VirtualRig()
        return _installed


class VirtualPower:
    """The simulated rig's supply, CPU temperature and battery (a UPS board), as the Pi's
    sysfs would report them through :class:`hal.health.SysfsHealth`: healthy until the
    simulator says otherwise, so the app's warnings can be tried without a weak power bank."""

    def __init__(self) -> None:
        self._health = Health(cpu_temperature_c=48.0, battery_percent=None)

    def read(self) -> Health:
        return self._health

    def set(self, **changes: object) -> Health:
        self._health = dataclasses.replace(self._health, **changes)
        return self._health
