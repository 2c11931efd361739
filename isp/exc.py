"""Errors raised by the ISP. Each names the file or input and what is wrong with it."""


class IspError(Exception):
    """Root of every error raised by ``isp``."""


class TuningError(IspError, ValueError):
    """A tuning file is unreadable or lacks the calibration the ISP needs."""


class RawFormatError(IspError, ValueError):
    """A raw file or array is not something the ISP can develop (truncated, not Bayer, ...)."""
