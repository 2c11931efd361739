"""Errors of the app. Each also inherits the built-in it resembles; the API maps them to HTTP
status codes in one place (``firmware/api/errors.py``)."""


class MrigError(Exception):
    """Root of every error raised by ``firmware``."""


class ConfigError(MrigError, ValueError):
    """The configuration file or a flag has a bad value; the message names the key."""


class CameraUnavailable(MrigError):
    """The camera is recovering from a fault; the message says why."""


class NotFound(MrigError, LookupError):
    """A photo, lens or job with that name or id does not exist (404)."""


class PhotoNotFound(NotFound, FileNotFoundError):
    """No photo of that name in the storage folder, or one that may not be served (404)."""


class InvalidPhotoName(MrigError, ValueError):
    """A photo name that is malformed: a path, an encoding, a NUL, or not a photo name (400)."""


class StorageFull(MrigError, OSError):
    """The card has no room for the capture (507); earlier photos are untouched.

    Raised as ``StorageFull(errno.ENOSPC, message)``; ``str()`` is the message alone."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class LensNotFound(NotFound):
    """No lens with that id in the registry (404)."""


class LensIsPreset(MrigError, PermissionError):
    """Built-in lens presets cannot be changed or deleted; add your own lens instead (409)."""


class ApertureOutOfRange(MrigError, ValueError):
    """The f-number is outside the lens's aperture range (422)."""


class JobNotFound(NotFound):
    """No drive-mode job with that id (404)."""


class DriveBusy(MrigError, RuntimeError):
    """A drive-mode job is already running; cancel it or wait (409)."""


class BufferFull(MrigError):
    """The camera's buffer of shots waiting for the card is full (503, retry in a moment);
    the shot was not taken, nothing is lost."""

    headers = {"Retry-After": "1"}


class CardTimeout(MrigError, TimeoutError):
    """The card did not take a photo in time (a failing card or USB stick) (503)."""


class ShuttingDown(MrigError):
    """The camera is stopping: no new photos (503)."""


class DarkFrameUnusable(MrigError, ValueError):
    """No dark frame was shot, or it does not match the exposure, gain or size (422)."""
