"""Capture and drive modes: ``POST /api/capture``, the jobs it starts, and the dark frame.

A single shot without self-timer answers as soon as its DNG is safe on the card (``files``
names the JPEG too, which develops in the background: ``GET /api/capture/queue`` counts the
shots still developing, and the gallery marks them). Every other drive mode answers 202 at
once with its job, which runs on in the background (an interval timer keeps going when the
phone disconnects) and is followed at ``/api/jobs/{id}`` (``DELETE`` or
``POST /api/jobs/{id}/cancel`` stops it, a long exposure in the middle of the exposure).
A press the camera cannot take now is refused, never dropped: 409 during a drive mode, 503
"buffer full" while the card catches up, 507 when the card is full.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from firmware.api.deps import CaptureDep
from firmware.capture.drive import DriveRequest, Job
from firmware.capture.service import CaptureService

router = APIRouter(tags=["capture"])


def _job(capture: CaptureService, job: Job) -> dict:
    return job.as_dict(capture.drive.now_ns())


@router.post("/capture", responses={202: {"description": "Drive mode started"},
                                     409: {"description": "A drive mode is running"},
                                     503: {"description": "Buffer full, or camera recovering"},
                                     507: {"description": "Storage full"}})
def post_capture(body: DriveRequest, capture: CaptureDep) -> JSONResponse:
    """Take a photo (``{"format": "jpeg" | "dng" | "both"}``) or start a drive mode
    (``"mode"``: ``burst``, ``bracket``, ``interval``, ``long``, ``dark``; ``self_timer_s``)."""
    if body.mode == "single" and body.self_timer_s == 0:
        job = capture.drive.run(body, raise_errors=True)
        return JSONResponse(_job(capture, job))
    camera = capture.capturer.camera
    if body.mode != "single" and camera.controls.scaler_crop is not None:
        # A drive mode runs for a while: punched in, its exposure would stay what was metered
        # before the punch-in (the hold), through an interval's changing light. Back to 1x.
        camera.unmagnify()
    job = capture.drive.submit(body)
    return JSONResponse(_job(capture, job), status_code=202)


@router.get("/capture/queue")
def get_queue(capture: CaptureDep) -> dict:
    """Shots in the buffer (not yet on the card), its size, and JPEGs still developing."""
    return capture.pipeline.status()


@router.get("/jobs")
def list_jobs(capture: CaptureDep) -> list[dict]:
    """Recent drive-mode jobs, newest first."""
    return [_job(capture, j) for j in capture.drive.jobs()]


@router.get("/jobs/{job_id}")
def get_job(job_id: str, capture: CaptureDep) -> dict:
    """State, progress (0..1), files so far and error of one job."""
    return _job(capture, capture.drive.get(job_id))


@router.delete("/jobs/{job_id}")
@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: str, capture: CaptureDep) -> dict:
    """Stop a job; a frame being exposed is discarded."""
    return _job(capture, capture.drive.cancel(job_id))


@router.get("/capture/dark")
def get_dark_frame(capture: CaptureDep) -> dict:
    """The dark frame kept for long exposures, if any (shoot one with ``mode: "dark"``)."""
    dark = capture.drive.dark_frame
    if dark is None:
        return {"present": False}
    m = dark.metadata
    return {"present": True, "exposure_time_us": m.exposure_time_us,
            "analogue_gain": m.analogue_gain, "size": [dark.data.shape[1], dark.data.shape[0]]}
