"""numpy raw-to-image pipeline for the IMX477: one stage per module, calibrated by libcamera tuning."""
