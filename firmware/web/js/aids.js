// Exposure and focus aids over the live view.
//
// Zebras, focus peaking, false colour, the grid and the RGB/luma histogram are computed here,
// in the browser, from the frame the <img> already shows: the Pi encodes each frame once for
// every viewer and spends nothing on overlays. The RAW histogram, the ETTR hint and the focus
// measure come from the camera's own analysis (GET /api/live), which sees the raw data and the
// full-resolution frame; the focus meter falls back to the preview when that is unavailable.

import { api, ApiError, bus, get } from "./api.js";
import { $, el, prefs } from "./ui.js";

const AIDS = ["histogram", "rawhist", "ettr", "zebras", "peaking", "falsecolour", "grid", "focusmeter"];
const FRAME_MS = 90;   // about 11 overlay updates a second
const LIVE_MS = 400;

/** False-colour bands on the frame's luma (sRGB-coded, 0..1): [upper limit, colour, meaning]. */
export const FALSE_COLOUR = [
  [0.03, [123, 44, 191], "black clip"],
  [0.10, [43, 89, 255], "deep shadow"],
  [0.40, null, ""],
  [0.50, [32, 192, 32], "mid grey"],
  [0.70, null, ""],
  [0.78, [255, 143, 200], "skin +1"],
  [0.93, null, ""],
  [0.98, [255, 208, 0], "near clip"],
  [1.01, [255, 32, 32], "clipped"],
];

export class Aids {
  constructor(live) {
    this.live = live;
    this.on = Object.fromEntries(AIDS.map((a) => [a, prefs.get(`aid.${a}`, a === "histogram")]));
    this.zebraThreshold = prefs.get("zebraThreshold", 95);
    this.peakSensitivity = prefs.get("peakSensitivity", 50);
    this.peakColour = prefs.get("peakColour", "#ff2a2a");
    this.overlay = $("#overlay");
    this.work = document.createElement("canvas");
    this.workCtx = this.work.getContext("2d", { willReadFrequently: true });
    this.layer = document.createElement("canvas");
    this.mask = document.createElement("canvas");
    this.liveData = null;
    this.liveAvailable = true;
    this.focusPeak = 0;
    this._lastFrame = 0;
    this._bind();
    this._render();
    bus.addEventListener("focus-point", (e) => {
      this.focusPeak = 0;
      // The camera measures focus on a patch around the point (of the shown frame).
      api("PATCH", "/api/live/options", { focus_x: e.detail.shown.x, focus_y: e.detail.shown.y })
        .catch(() => null);
    });
    bus.addEventListener("magnify", (e) => {
      this.focusPeak = 0;
      // The camera analyses the frame it shows: the punched-in patch, or the whole field.
      // Keep its focus patch and spot on the point tapped, in that frame's coordinates.
      const m = e.detail;
      const p = this.live.point;
      if (!p) return;
      const half = 0.5 / m.factor;
      const shown = m.factor > 1 && m.onSensor
        ? { x: (p.x - (m.x - half)) * m.factor, y: (p.y - (m.y - half)) * m.factor } : p;
      if (shown.x < 0 || shown.x > 1 || shown.y < 0 || shown.y > 1) return;
      api("PATCH", "/api/live/options", { focus_x: shown.x, focus_y: shown.y }).catch(() => null);
    });
    bus.addEventListener("layout", () => this._resize());
    bus.addEventListener("controls", (e) => { this.manual = !e.detail.ae_enable; });
  }

  start() {
    const loop = (t) => {
      if (t - this._lastFrame >= FRAME_MS) {
        this._lastFrame = t;
        try { this.draw(); } catch (e) { console.error(e); }
      }
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    this._pollLive();
  }

  _bind() {
    for (const node of document.querySelectorAll("[data-aid]")) {
      const aid = node.dataset.aid;
      const handler = () => this.toggle(aid, node.type === "checkbox" ? node.checked : !this.on[aid]);
      node.addEventListener(node.type === "checkbox" ? "change" : "click", handler);
    }
    const zebra = $("#zebra-threshold");
    zebra.value = this.zebraThreshold;
    zebra.addEventListener("input", () => {
      this.zebraThreshold = Number(zebra.value);
      prefs.set("zebraThreshold", this.zebraThreshold);
      this._render();
    });
    const peak = $("#peak-sensitivity");
    peak.value = this.peakSensitivity;
    peak.addEventListener("input", () => {
      this.peakSensitivity = Number(peak.value);
      prefs.set("peakSensitivity", this.peakSensitivity);
      this._render();
    });
    for (const radio of document.querySelectorAll('input[name="peakcolour"]')) {
      radio.checked = radio.value === this.peakColour;
      radio.addEventListener("change", () => {
        this.peakColour = radio.value;
        prefs.set("peakColour", radio.value);
      });
    }
    $("#falsecolour-legend").replaceChildren(...FALSE_COLOUR.filter((b) => b[1]).map(([, rgb, name]) => {
      const swatch = el("span", {}, name);
      swatch.style.background = `rgb(${rgb.join(",")})`;   // CSSOM: allowed by the CSP
      return swatch;
    }));
  }

  toggle(aid, value) {
    this.on[aid] = value;
    prefs.set(`aid.${aid}`, value);
    this._render();
  }

  _render() {
    for (const node of document.querySelectorAll("[data-aid]")) {
      const on = Boolean(this.on[node.dataset.aid]);
      if (node.type === "checkbox") node.checked = on;
      else node.setAttribute("aria-pressed", String(on));
    }
    $("#zebra-out").textContent = `${this.zebraThreshold}%`;
    $("#peak-out").textContent = String(this.peakSensitivity);
    $("#histogram").hidden = !this.on.histogram;
    $("#rawhist").hidden = !this.on.rawhist;
    $("#ettr").hidden = !this.on.ettr;
    $("#focus-meter").hidden = !this.on.focusmeter;
    $("#aids-note").textContent = this.liveAvailable ? ""
      : "The RAW histogram and the ETTR hint need the camera's live analysis, which this camera does not offer yet.";
  }

  _resize() {
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    const w = Math.round(this.overlay.clientWidth * dpr);
    const h = Math.round(this.overlay.clientHeight * dpr);
    if (this.overlay.width !== w || this.overlay.height !== h) {
      this.overlay.width = w;
      this.overlay.height = h;
    }
    this.dpr = dpr;
  }

  /** The camera's analysis, pushed by server-sent events while an aid needs it; polled
   * (GET /api/live) where EventSource is missing. */
  _pollLive() {
    // Manual exposure wants it too: the EV chip shows the meter (controls.js).
    const wanted = (this.on.rawhist || this.on.ettr || this.on.focusmeter || this.manual)
      && this.liveAvailable && !document.hidden;
    if (wanted && !this.events && typeof EventSource === "function") this._openEvents();
    if (!wanted && this.events) this._closeEvents();
    if (wanted && typeof EventSource !== "function") {
      get("/api/live?map=false", { timeoutMs: 6000 }).then((d) => { this._live(d); }, (e) => {
        if (e instanceof ApiError && e.unavailable) { this.liveAvailable = false; this._render(); }
        this.liveData = null;
      });
    }
    setTimeout(() => this._pollLive(), LIVE_MS);
  }

  _openEvents() {
    const source = new EventSource("/api/live/events?map=false");
    this.events = source;
    source.addEventListener("live", (e) => { this._live(JSON.parse(e.data)); });
    source.addEventListener("end", () => { this._closeEvents(); this.liveData = null; });
    source.addEventListener("error", () => {
      // The browser retries by itself; a 404 (no live analysis on this camera) is final.
      if (source.readyState === EventSource.CLOSED) {
        this._closeEvents();
        get("/api/live?map=false").catch((e) => {
          if (e instanceof ApiError && e.unavailable) { this.liveAvailable = false; this._render(); }
        });
      }
    });
  }

  /** A new analysis: kept for the overlays, and told to whoever shows figures from it. */
  _live(data) {
    this.liveData = data;
    bus.dispatchEvent(new CustomEvent("live", { detail: data }));
  }

  _closeEvents() {
    this.events?.close();
    this.events = null;
    bus.dispatchEvent(new CustomEvent("live", { detail: null }));  // no reading is live now
  }

  /** One overlay update from the frame on screen. */
  draw() {
    const img = this.live.img;
    const ctx = this.overlay.getContext("2d");
    if (!this.dpr) this._resize();
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    const ready = this.live.connected && img.naturalWidth > 0;
    const on = this.on;
    const needPixels = on.histogram || on.zebras || on.peaking || on.falsecolour
      || (on.focusmeter && !(this.liveData && this.liveData.focus_measure != null));
    const r = this.live.frameRect();
    const k = this.dpr;
    const rect = { x: r.x * k, y: r.y * k, w: r.w * k, h: r.h * k };
    let frame = null;
    if (ready && needPixels) frame = this._analyse(img);
    if (frame) {
      if (on.falsecolour) this._drawMask(ctx, frame, rect, this._falseColour(frame), false);
      if (on.zebras) this._drawZebras(ctx, frame, rect);
      if (on.peaking) this._drawMask(ctx, frame, rect, this._peaking(frame), false);
      if (on.histogram) drawHistogram($("#histogram"), frame.hist);
    }
    if (on.grid && ready) drawGrid(ctx, rect, k);
    if (on.rawhist) drawRawHistogram($("#rawhist"), this.liveData?.raw_histogram, this.liveAvailable);
    if (on.ettr) this._showEttr();
    if (on.focusmeter) this._showFocus(frame);
  }

  _analyse(img) {
    const detail = this.on.peaking || this.on.falsecolour || this.on.zebras;
    const w = Math.min(img.naturalWidth, detail ? 480 : 192);
    const h = Math.round((w * img.naturalHeight) / img.naturalWidth);
    if (this.work.width !== w || this.work.height !== h) {
      this.work.width = w;
      this.work.height = h;
    }
    this.workCtx.drawImage(img, 0, 0, w, h);
    const { data } = this.workCtx.getImageData(0, 0, w, h);
    const n = w * h;
    const luma = new Float32Array(n);
    const hist = { r: new Uint32Array(64), g: new Uint32Array(64), b: new Uint32Array(64), y: new Uint32Array(64) };
    for (let i = 0, p = 0; i < n; i++, p += 4) {
      const R = data[p], G = data[p + 1], B = data[p + 2];
      const Y = 0.2126 * R + 0.7152 * G + 0.0722 * B;
      luma[i] = Y;
      hist.r[R >> 2]++; hist.g[G >> 2]++; hist.b[B >> 2]++; hist.y[Math.min(63, Y >> 2)]++;
    }
    return { w, h, data, luma, hist };
  }

  /** Draw a small RGBA image (``w`` × ``h``) over the frame's place on screen. */
  _drawMask(ctx, frame, rect, pixels, smooth) {
    if (!pixels) return;
    const c = this.mask;
    c.width = frame.w;
    c.height = frame.h;
    c.getContext("2d").putImageData(new ImageData(pixels, frame.w, frame.h), 0, 0);
    ctx.imageSmoothingEnabled = smooth;
    ctx.drawImage(c, rect.x, rect.y, rect.w, rect.h);
    ctx.imageSmoothingEnabled = true;
  }

  _falseColour(frame) {
    const out = new Uint8ClampedArray(frame.w * frame.h * 4);
    const lut = [];
    for (let v = 0; v < 256; v++) {
      const band = FALSE_COLOUR.find(([limit]) => v / 255 < limit);
      lut.push(band[1] ? band[1] : [v * 0.8, v * 0.8, v * 0.8]);   // grey, a little darker
    }
    for (let i = 0, p = 0; i < frame.luma.length; i++, p += 4) {
      const c = lut[Math.min(255, Math.round(frame.luma[i]))];
      out[p] = c[0]; out[p + 1] = c[1]; out[p + 2] = c[2]; out[p + 3] = 255;
    }
    return out;
  }

  _drawZebras(ctx, frame, rect) {
    const threshold = (this.zebraThreshold / 100) * 255;
    const out = new Uint8ClampedArray(frame.w * frame.h * 4);
    let any = false;
    for (let i = 0, p = 0; i < frame.luma.length; i++, p += 4) {
      if (frame.luma[i] >= threshold) { out[p + 3] = 255; any = true; }
    }
    if (!any) return;
    // Stripes at screen resolution through the (upscaled) mask: crisp diagonal zebras.
    const layer = this.layer;
    layer.width = this.overlay.width;
    layer.height = this.overlay.height;
    const lc = layer.getContext("2d");
    this._drawMask(lc, frame, rect, out, true);
    lc.globalCompositeOperation = "source-in";
    lc.fillStyle = stripes(lc, this.dpr, performance.now());
    lc.fillRect(0, 0, layer.width, layer.height);
    ctx.drawImage(layer, 0, 0);
  }

  _peaking(frame) {
    const { w, h, luma } = frame;
    const out = new Uint8ClampedArray(w * h * 4);
    // Sensitivity 1..100 → edge strength needed, in 8-bit levels of |∇Y| (Sobel-like sum).
    const threshold = 140 - this.peakSensitivity * 1.2;
    const [r, g, b] = hexRgb(this.peakColour);
    for (let y = 1; y < h - 1; y++) {
      for (let x = 1; x < w - 1; x++) {
        const i = y * w + x;
        const gx = luma[i + 1] - luma[i - 1];
        const gy = luma[i + w] - luma[i - w];
        if (Math.abs(gx) + Math.abs(gy) > threshold) {
          const p = i * 4;
          out[p] = r; out[p + 1] = g; out[p + 2] = b; out[p + 3] = 255;
        }
      }
    }
    return out;
  }

  _showEttr() {
    const box = $("#ettr");
    const d = this.liveData;
    if (!this.liveAvailable || !d || d.ettr_ev == null) {
      box.textContent = this.liveAvailable ? "ETTR …" : "ETTR n/a";
      box.dataset.warn = "false";
      return;
    }
    const ev = d.ettr_ev;
    const over = d.ettr?.overexposed ?? ev < 0;
    box.dataset.warn = String(Boolean(over));
    const sign = ev > 0 ? "+" : ev < 0 ? "−" : "±";
    box.textContent = Math.abs(ev) < 0.17 ? "ETTR ✓ at the limit"
      : over ? `Clipping: ETTR ${sign}${Math.abs(ev).toFixed(1)} EV` : `ETTR ${sign}${Math.abs(ev).toFixed(1)} EV`;
    box.title = "Exposure change that puts the brightest highlights just below raw clipping";
  }

  _showFocus(frame) {
    let value = this.liveData?.focus_measure;
    let source = "camera";
    if (value == null && frame) {
      value = localFocus(frame, this.live.magnify.factor > 1 ? null : this.live.point);
      source = "preview";
    }
    if (value == null) return;
    if (source !== this.focusSource) {   // the two measures have different units
      this.focusSource = source;
      this.focusPeak = 0;
    }
    this.focusPeak = Math.max(this.focusPeak * 0.998, value);
    const pct = this.focusPeak > 0 ? Math.round((100 * value) / this.focusPeak) : 0;
    $("#focus-fill").style.width = `${pct}%`;
    $("#focus-fill").style.background = pct >= 95 ? "var(--ok)" : pct >= 75 ? "var(--accent)" : "#ff9f0a";
    $("#focus-peak").style.left = "calc(100% - 3px)";
    $("#focus-meter").setAttribute("aria-valuenow", String(pct));
  }
}

/** Sharpness of the preview around a point (mean squared gradient of luma), or over the frame. */
export function localFocus(frame, point) {
  const { w, h, luma } = frame;
  let x0 = 1, y0 = 1, x1 = w - 1, y1 = h - 1;
  if (point) {
    const half = Math.round(w * 0.08);
    const cx = Math.round(point.x * w);
    const cy = Math.round(point.y * h);
    x0 = Math.max(1, cx - half); x1 = Math.min(w - 1, cx + half);
    y0 = Math.max(1, cy - half); y1 = Math.min(h - 1, cy + half);
  }
  let sum = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * w + x;
      const gx = luma[i + 1] - luma[i - 1];
      const gy = luma[i + w] - luma[i - w];
      sum += gx * gx + gy * gy;
      n++;
    }
  }
  return n ? sum / n : null;
}

function hexRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function stripes(ctx, dpr, t) {
  const size = Math.round(12 * dpr);
  const tile = document.createElement("canvas");
  tile.width = tile.height = size;
  const c = tile.getContext("2d");
  c.fillStyle = "rgba(0,0,0,0.85)";
  c.fillRect(0, 0, size, size);
  c.strokeStyle = "#fff";
  c.lineWidth = size / 3;
  const shift = ((t / 60) % size);
  c.beginPath();
  for (let o = -2 * size; o <= 2 * size; o += size) {
    c.moveTo(o + shift, 0);
    c.lineTo(o + shift + size, size);
  }
  c.stroke();
  return ctx.createPattern(tile, "repeat");
}

function drawGrid(ctx, r, k) {
  ctx.save();
  ctx.lineWidth = Math.max(1, k);
  ctx.strokeStyle = "rgba(255,255,255,0.6)";
  ctx.shadowColor = "rgba(0,0,0,0.8)";
  ctx.shadowBlur = 2;
  ctx.beginPath();
  for (const f of [1 / 3, 2 / 3]) {
    ctx.moveTo(r.x + f * r.w, r.y); ctx.lineTo(r.x + f * r.w, r.y + r.h);
    ctx.moveTo(r.x, r.y + f * r.h); ctx.lineTo(r.x + r.w, r.y + f * r.h);
  }
  ctx.stroke();
  ctx.restore();
}

/** RGB as additive colour areas, luma as a white line; square-root scale like camera backs. */
function drawHistogram(canvas, hist) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width;
  const H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const all = [hist.r, hist.g, hist.b, hist.y];
  const peak = Math.sqrt(Math.max(1, ...all.map((h) => Math.max(...h.subarray(1, 63)))));
  const path = (bins) => {
    ctx.beginPath();
    ctx.moveTo(0, H);
    bins.forEach((v, i) => ctx.lineTo(((i + 0.5) / bins.length) * W, H - Math.min(1, Math.sqrt(v) / peak) * (H - 4)));
    ctx.lineTo(W, H);
  };
  ctx.globalCompositeOperation = "lighter";
  for (const [bins, colour] of [[hist.r, "rgba(255,40,40,0.75)"], [hist.g, "rgba(40,220,40,0.75)"], [hist.b, "rgba(60,90,255,0.85)"]]) {
    path(bins);
    ctx.fillStyle = colour;
    ctx.fill();
  }
  ctx.globalCompositeOperation = "source-over";
  path(hist.y);
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 2;
  ctx.stroke();
  // Thirds of the range, and a red edge when the last bin is full (clipping).
  ctx.fillStyle = "rgba(255,255,255,0.25)";
  for (const f of [0.25, 0.5, 0.75]) ctx.fillRect(Math.round(f * W), 0, 1, H);
  const clipped = hist.y[63] > 0.002 * hist.y.reduce((a, b) => a + b, 0);
  if (clipped) { ctx.fillStyle = "#ff2020"; ctx.fillRect(W - 5, 0, 5, H); }
}

const RAW_COLOURS = { R: "#ff4040", G1: "#40e040", G2: "#1fae1f", B: "#5a7dff" };

/** The camera's RAW histogram: one line per Bayer channel in stops below clipping, dark on
 * the left, the clipping level at the right edge (as Magic Lantern draws it). */
function drawRawHistogram(canvas, raw, available) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width;
  const H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#fff";
  ctx.font = "bold 16px system-ui, sans-serif";
  if (!raw?.channels) {
    ctx.fillText(available ? "RAW …" : "RAW histogram n/a", 8, H / 2 + 6);
    return;
  }
  const series = Object.entries(raw.channels);
  const bins = series[0]?.[1].length || 1;
  // Stop lines every 2 EV from the clipping edge.
  ctx.fillStyle = "rgba(255,255,255,0.22)";
  const perEv = 1 / (raw.bin_width_ev || 1);
  for (let ev = 2; ev < (raw.range_ev || 14); ev += 2) ctx.fillRect(Math.round(W - (ev * perEv * W) / bins), 0, 1, H);
  const peak = Math.sqrt(Math.max(1, ...series.flatMap(([, c]) => c.slice(1, -1))));
  ctx.lineWidth = 2;
  for (const [name, counts] of series) {
    ctx.beginPath();
    counts.forEach((v, i) => {
      const x = ((i + 0.5) / counts.length) * W;
      const y = H - Math.min(1, Math.sqrt(v) / peak) * (H - 4);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.strokeStyle = RAW_COLOURS[name] || "#fff";
    ctx.stroke();
  }
  const clipped = Object.values(raw.channels).some((c) => c.at(-1) > 0.001 * raw.samples);
  if (clipped) { ctx.fillStyle = "#ff2020"; ctx.fillRect(W - 5, 0, 5, H); }
  ctx.fillStyle = "#fff";
  ctx.font = "bold 12px system-ui, sans-serif";
  ctx.fillText("RAW", 6, 14);
}
