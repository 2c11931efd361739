"""Errors of the app. Each also inherits the built-in it resembles; the API maps them to HTTP
status codes in one place (``firmware/api/errors.py``)."""


class MrigError(Exception):
    """Root of every error raised by ``firmware``."""


class ConfigError(MrigError, ValueError):
    """The configuration file or a flag has a bad value; the message names the key."""


class CameraUnavailable(MrigError):
    """The camera is recovering from a fault; the message says why."""
