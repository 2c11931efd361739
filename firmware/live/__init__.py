"""Live-view analysis: histograms, raw clipping, ETTR, focus measure and the exposure map.

Pure numpy functions, one concern per module (:mod:`.histogram`, :mod:`.exposure`,
:mod:`.focus`), combined in a fixed order by :func:`firmware.live.analysis.analyse` and run
off the camera thread by :class:`firmware.live.analyzer.LiveAnalyzer`. :mod:`.magnify` turns a
punch-in request into the camera's ``scaler_crop``. See ``README.md`` beside this file for
where the overlays are drawn and the data contract with the browser.
"""
