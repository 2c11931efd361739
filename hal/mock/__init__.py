"""The simulated IMX477: scene, lens, sensor physics and the Pi IPA/ISP stand-in."""
