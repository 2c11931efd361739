"""The simulated rig's lens rings and light (the virtual camera's). A real M lens has no
electronics, so none of this exists on a Pi: on a real camera these routes answer 404."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, HTTPException

from firmware.api.deps import ServiceDep
from firmware.api.errors import field_error
from firmware.api.models import LensRings, RigPower, SceneLight
from firmware.lenses import CurrentLens

router = APIRouter(prefix="/mock", tags=["virtual camera"])


def mount_on_mock(camera: object, current: CurrentLens) -> None:
    """Put the lens the user says is mounted on the simulated rig: its focal length, aperture
    range and ring setting, so the virtual camera's framing, depth of field and exposure follow it.
    Nothing happens with a real camera (its lens is glass, not software)."""
    rig = simulator(camera)
    if rig is None or current.lens is None:
        return
    lens = current.lens
    widest, smallest = lens.f_number_range
    rig.set_lens(
        name=f"{lens.make} {lens.name}",
        focal_length_mm=lens.focal_length_mm,
        widest_f_number=widest,
        smallest_f_number=smallest,
        f_number=current.f_number if current.f_number is not None else widest,
    )


def simulator(camera: object):
    """The simulated rig behind a virtual camera (its lens and light), or None on a real one."""
    return getattr(camera, "rig", None)


def _mock(service):
    rig = simulator(service.camera)
    if rig is None:
        raise HTTPException(404, "only the virtual camera has simulated lens rings")
    return rig


@router.get("/lens")
def get_lens(service: ServiceDep) -> dict:
    return dataclasses.asdict(_mock(service).lens)


@router.patch("/lens")
def patch_lens(rings: LensRings, service: ServiceDep):
    """Turn the focus ring (metres) or the aperture ring (f-number) of the simulated lens."""
    camera = _mock(service)
    lens = camera.lens
    changes = rings.model_dump(exclude_none=True)
    f = changes.get("f_number")
    if f is not None and not lens.widest_f_number <= f <= lens.smallest_f_number:
        return field_error("f_number", f"must be between {lens.widest_f_number} and "
                           f"{lens.smallest_f_number} for {lens.name}", f)
    d = changes.get("focus_distance_m")
    if d is not None and d < lens.closest_focus_m:
        return field_error("focus_distance_m",
                           f"must be at least {lens.closest_focus_m} m for {lens.name}", d)
    return dataclasses.asdict(camera.set_lens(**changes))


@router.get("/scene")
def get_scene(service: ServiceDep) -> dict:
    return dataclasses.asdict(_mock(service).scene)


@router.patch("/scene")
def patch_scene(light: SceneLight, service: ServiceDep) -> dict:
    camera = _mock(service)
    camera.set_scene(**light.model_dump(exclude_none=True))
    return dataclasses.asdict(camera.scene)


@router.get("/power")
def get_power(service: ServiceDep) -> dict:
    return _mock(service).power.read().as_dict()


@router.patch("/power")
def patch_power(power: RigPower, service: ServiceDep) -> dict:
    """The simulated rig's supply, heat and battery: try the status bar's warnings.
    ``battery_percent: null`` takes the UPS board away (no battery at all)."""
    changes = {k: v for k, v in power.model_dump(exclude_unset=True).items()
               if v is not None or k in ("battery_percent", "battery_charging")}
    if "battery_percent" in changes and changes["battery_percent"] is None:
        changes["battery_charging"] = None  # no battery, no charging
    return _mock(service).power.set(**changes).as_dict()
