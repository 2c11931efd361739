// The live view: the MJPEG stream in an <img> that reconnects by itself, the frame's place on
// screen (for the overlays), and touch: tap to set the focus point, double-tap or pinch to
// magnify, the magnify button to step through 1×, 2×, 5×, 10×.

import { api, ApiError, bus } from "./api.js";
import { $, banner, toast } from "./ui.js";

const STREAM_URL = "/api/stream.mjpg";
/** The band above and below the frame that holds the histograms (66 px and a margin) and, below,
 * the aids row with the focus meter above it (44 + 24 px and margins): see app.css. */
const BAND_MIN_PX = 80;
export const MAGNIFY_STEPS = [1, 2, 5, 10];

export class LiveView {
  constructor() {
    this.img = $("#stream");
    this.box = $("#viewfinder");
    this.point = { x: 0.5, y: 0.5 };      // focus point, 0..1 of the whole sensor frame
    this.magnify = { factor: 1, x: 0.5, y: 0.5, onSensor: true };
    this.connected = false;
    this._retryMs = 1000;
    this._retryTimer = 0;
    this._generation = 0;
    this._pointers = new Map();
    this._pinchStart = null;
    this._lastTap = 0;

    this.img.addEventListener("load", () => this._frameArrived());
    this.img.addEventListener("error", () => this._lost());
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) this.stop();   // no stream in the background: spare the Pi
      else this.connect();
    });
    bus.addEventListener("online", () => this.connect());
    bus.addEventListener("camera-state", (e) => {
      if (e.detail === "running" && !this.connected) this.connect();
      if (e.detail !== "running") this._down();
    });
    this._bindTouch();
    $("#magnify-btn").addEventListener("click", () => {
      const i = MAGNIFY_STEPS.indexOf(this.magnify.factor);
      this.setMagnify(MAGNIFY_STEPS[(i + 1) % MAGNIFY_STEPS.length], this.point);
    });
    new ResizeObserver(() => bus.dispatchEvent(new Event("layout"))).observe(this.box);
    bus.addEventListener("layout", () => this._placeAids());
    bus.addEventListener("magnify-sync", () => this.syncMagnify());
  }

  /** Take over a punch-in already in force (another phone, or before a reload). */
  async syncMagnify() {
    try {
      const m = await api("GET", "/api/magnify");
      const factor = MAGNIFY_STEPS.reduce((a, b) => (Math.abs(b - m.factor) < Math.abs(a - m.factor) ? b : a));
      this.magnify = { factor, x: m.x, y: m.y, onSensor: true };
    } catch (e) {
      if (e instanceof ApiError && e.unavailable) this.magnify.onSensor = false;
    }
    this._applyMagnify();
  }

  connect() {
    clearTimeout(this._retryTimer);
    if (document.hidden) return;
    this._generation += 1;
    this.img.src = `${STREAM_URL}?v=${this._generation}`;
  }

  stop() {
    clearTimeout(this._retryTimer);
    this.img.removeAttribute("src");
    this.connected = false;
  }

  _frameArrived() {
    this.connected = true;
    this._retryMs = 1000;
    this.box.dataset.stream = "up";
    bus.dispatchEvent(new Event("layout"));
  }

  _down() {
    this.connected = false;
    this.box.dataset.stream = "down";
  }

  _lost() {
    if (!this.img.getAttribute("src")) return;
    this._down();
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this.connect(), this._retryMs);
    this._retryMs = Math.min(8000, this._retryMs * 2);
  }

  /** Where the frame is drawn inside the viewfinder (object-fit: contain), in CSS pixels. */
  frameRect() {
    const w = this.box.clientWidth;
    const h = this.box.clientHeight;
    const iw = this.img.naturalWidth || 4;
    const ih = this.img.naturalHeight || 3;
    const scale = Math.min(w / iw, h / ih);
    const fw = iw * scale;
    const fh = ih * scale;
    return { x: (w - fw) / 2, y: (h - fh) / 2, w: fw, h: fh };
  }

  /** On a portrait phone the frame fills the width and leaves bands above and below it: when
   * they are tall enough the histograms go above the picture and the aids row and focus meter
   * below it, so nothing covers the picture. Otherwise (landscape, a short phone) they float
   * over its edges. */
  _placeAids() {
    const r = this.frameRect();
    const bands = this.box.clientHeight > this.box.clientWidth && r.y >= BAND_MIN_PX ? "outside" : "over";
    if (this.box.dataset.bands === bands) return;  // "layout" comes with every frame
    this.box.dataset.bands = bands;
    $(".aids").setAttribute("aria-orientation", bands === "outside" ? "horizontal" : "vertical");
  }

  /** A point on screen → 0..1 of the shown frame, or null outside the picture. */
  _toFrame(clientX, clientY) {
    const box = this.box.getBoundingClientRect();
    const r = this.frameRect();
    const x = (clientX - box.left - r.x) / r.w;
    const y = (clientY - box.top - r.y) / r.h;
    if (x < 0 || x > 1 || y < 0 || y > 1) return null;
    return { x, y };
  }

  /** 0..1 of the shown frame → 0..1 of the whole sensor frame (the view may be magnified). */
  _toSensor(p) {
    const m = this.magnify;
    if (m.factor === 1 || !m.onSensor) return p;
    const half = 0.5 / m.factor;
    return { x: m.x - half + p.x / m.factor, y: m.y - half + p.y / m.factor };
  }

  /** ``p``: 0..1 of the whole sensor frame; ``shown``: 0..1 of the frame on screen. */
  setPoint(p, shown = p) {
    this.point = { x: Math.min(1, Math.max(0, p.x)), y: Math.min(1, Math.max(0, p.y)) };
    this._showPoint();
    bus.dispatchEvent(new CustomEvent("focus-point", { detail: { ...this.point, shown } }));
  }

  _showPoint() {
    const marker = $("#focus-point");
    const m = this.magnify;
    if (m.factor > 1) { marker.hidden = true; return; }
    const r = this.frameRect();
    marker.hidden = false;
    marker.style.left = `${r.x + this.point.x * r.w}px`;
    marker.style.top = `${r.y + this.point.y * r.h}px`;
    marker.style.setProperty("--spot-d", `${Math.round(0.1 * r.w)}px`);
  }

  /** Punch in at ``centre`` (0..1 of the sensor frame). On the camera through ScalerCrop when
   * the API offers it (real sensor pixels); otherwise the preview is enlarged, and says so. */
  async setMagnify(factor, centre = this.point) {
    const half = 0.5 / factor;
    const x = Math.min(1 - half, Math.max(half, centre.x));
    const y = Math.min(1 - half, Math.max(half, centre.y));
    const previous = this.magnify;
    this.magnify = { factor, x, y, onSensor: previous.onSensor };
    if (previous.onSensor) {
      try {
        await api("PUT", "/api/magnify", { factor, x, y });
      } catch (e) {
        if (!(e instanceof ApiError && (e.unavailable || e.status === 422))) {
          toast(e.message, "error");
          this.magnify = previous;
          return;
        }
        this.magnify.onSensor = false;
        if (factor > 1) toast("Magnify enlarges the preview here: this camera cannot crop the sensor yet.");
      }
    }
    this._applyMagnify();
  }

  _applyMagnify() {
    const m = this.magnify;
    const badge = $("#magnify-badge");
    badge.hidden = m.factor === 1;
    badge.textContent = `${m.factor}× ${m.onSensor ? "sensor" : "preview"}`;
    const button = $("#magnify-btn");
    button.textContent = `${m.factor}×`;
    button.setAttribute("aria-pressed", String(m.factor > 1));
    let transform = "";
    if (!m.onSensor && m.factor > 1) {
      const r = this.frameRect();
      const cx = r.x + m.x * r.w;
      const cy = r.y + m.y * r.h;
      const bw = this.box.clientWidth;
      const bh = this.box.clientHeight;
      transform = `translate(${bw / 2 - cx * m.factor}px, ${bh / 2 - cy * m.factor}px) scale(${m.factor})`;
    }
    this.img.style.transform = transform;
    $("#overlay").style.transform = transform;
    this._showPoint();
    bus.dispatchEvent(new CustomEvent("magnify", { detail: m }));
  }

  _bindTouch() {
    const box = this.box;
    box.addEventListener("pointerdown", (e) => {
      if (e.target.closest("button, .histogram")) return;
      this._pointers.set(e.pointerId, { x: e.clientX, y: e.clientY, x0: e.clientX, y0: e.clientY });
      if (this._pointers.size === 2) this._pinchStart = { d: this._spread(), factor: this.magnify.factor };
    });
    box.addEventListener("pointermove", (e) => {
      const p = this._pointers.get(e.pointerId);
      if (!p) return;
      p.x = e.clientX;
      p.y = e.clientY;
      if (this._pointers.size === 2 && this._pinchStart) {
        const live = Math.min(10, Math.max(1, this._pinchStart.factor * (this._spread() / this._pinchStart.d)));
        $("#magnify-badge").hidden = false;
        $("#magnify-badge").textContent = `${live.toFixed(1)}×`;
      }
    });
    const end = (e) => {
      const p = this._pointers.get(e.pointerId);
      if (!p) return;
      if (this._pointers.size === 2 && this._pinchStart) {
        const ratio = this._spread() / this._pinchStart.d;
        const wanted = this._pinchStart.factor * ratio;
        const factor = MAGNIFY_STEPS.reduce((a, b) => (Math.abs(Math.log(b / wanted)) < Math.abs(Math.log(a / wanted)) ? b : a));
        this._pinchStart = null;
        this._pointers.clear();
        this.setMagnify(factor, this.point);
        return;
      }
      this._pointers.delete(e.pointerId);
      if (e.type === "pointerup" && Math.hypot(p.x - p.x0, p.y - p.y0) < 12) this._tap(e);
    };
    box.addEventListener("pointerup", end);
    box.addEventListener("pointercancel", end);
  }

  _spread() {
    const [a, b] = [...this._pointers.values()];
    return Math.max(1, Math.hypot(a.x - b.x, a.y - b.y));
  }

  _tap(e) {
    const p = this._toFrame(e.clientX, e.clientY);
    if (!p) return;
    const sensor = this._toSensor(p);
    const now = performance.now();
    const double = now - this._lastTap < 320;
    this._lastTap = now;
    this.setPoint(sensor, p);
    if (double) this.setMagnify(this.magnify.factor > 1 ? 1 : 5, sensor);
    else if (this.magnify.factor > 1) this.setMagnify(this.magnify.factor, sensor);
  }
}

/** Show the camera's health: a banner while it reconnects, the link dot in the status bar. */
export function showHealth(state, reason, online) {
  const dot = $("#st-link");
  if (!online) {
    dot.dataset.state = "lost";
    dot.setAttribute("aria-label", "Connection to the camera lost");
    banner("Can't reach the camera — check the Wi-Fi. Reconnecting…");
  } else if (state !== "running") {
    dot.dataset.state = "recovering";
    dot.setAttribute("aria-label", "Camera reconnecting");
    banner(`Camera reconnecting…${reason ? ` (${reason})` : ""}`);
  } else {
    dot.dataset.state = "ok";
    dot.setAttribute("aria-label", "Connected");
    banner(null);
  }
}
