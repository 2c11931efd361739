"""Capture: the files a still becomes (DNG, EXIF for the JPEG) and the drive modes."""
