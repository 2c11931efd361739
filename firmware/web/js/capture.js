// The shutter button, drive modes and the progress of long work (with cancel).
// POST /api/capture takes {mode, format, self_timer_s, ...}; single shots answer with the
// finished job (its "files"), longer drive modes with a job (202) polled until it ends.

import { api, ApiError, bus, get } from "./api.js";
import { durationLabel, shutterLabel } from "./exposure.js";
import { $, closeOnBackdrop, el, openSheet, prefs, toast } from "./ui.js";

export const DRIVE_MODES = [
  { mode: "single", label: "Single" },
  { mode: "timer", label: "Self-timer" },
  { mode: "burst", label: "Burst" },
  { mode: "bracket", label: "Bracketing" },
  { mode: "interval", label: "Interval" },
  { mode: "long", label: "Long exposure" },
];

const DEFAULTS = {
  mode: "single", format: "both", timer_s: 2, frames: 5, bracket_frames: 3, ev_step: 1,
  interval_s: 10, count: 10, exposure_time_s: 30, subtract_dark: false,
};

export class Capture {
  constructor(controls) {
    this.controls = controls;
    this.settings = { ...DEFAULTS, ...prefs.get("drive", {}) };
    this.job = null;
    this.button = $("#capture");
    this.button.addEventListener("click", () => (this.job ? this.cancel() : this.shoot()));
    $("#drive-btn").addEventListener("click", () => this.openSheet());
    $("#countdown-cancel").addEventListener("click", () => this.cancel());
    closeOnBackdrop($("#drive-sheet"));
    this._buildSheet();
    this._label();
  }

  _buildSheet() {
    const box = $("#drive-modes");
    for (const d of DRIVE_MODES) {
      box.append(el("label", {}, el("input", { type: "radio", name: "drive", value: d.mode,
        checked: this.settings.mode === d.mode,
        onchange: () => { this.settings.mode = d.mode; this._save(); this._options(); } }),
      el("span", {}, d.label)));
    }
    for (const radio of document.querySelectorAll('input[name="format"]')) {
      radio.checked = radio.value === this.settings.format;
      radio.addEventListener("change", () => { this.settings.format = radio.value; this._save(); });
    }
    this._options();
  }

  _options() {
    const s = this.settings;
    const number = (key, label, attrs) => el("label", {}, label, el("input", {
      type: "number", inputmode: "decimal", value: String(s[key]), ...attrs,
      onchange: (e) => { s[key] = Number(e.target.value); this._save(); },
    }));
    const select = (key, label, options) => el("label", {}, label, el("select", {
      onchange: (e) => { s[key] = Number(e.target.value); this._save(); },
    }, options.map(([v, text]) => el("option", { value: String(v), selected: s[key] === v }, text))));
    const opts = {
      single: [],
      timer: [select("timer_s", "Delay", [[2, "2 s"], [10, "10 s"]])],
      burst: [number("frames", "Frames", { min: 2, max: 100, step: 1 })],
      bracket: [select("bracket_frames", "Frames", [[3, "3"], [5, "5"], [7, "7"]]),
        select("ev_step", "Step", [[0.3, "⅓ EV"], [0.7, "⅔ EV"], [1, "1 EV"], [2, "2 EV"], [3, "3 EV"]])],
      interval: [number("interval_s", "Every (s)", { min: 1, max: 86400, step: 1 }),
        number("count", "Frames", { min: 1, max: 100000, step: 1 })],
      long: [number("exposure_time_s", "Exposure (s, up to 653)", { min: 0.001, max: 653, step: 1 }),
        el("label", { class: "switch" }, el("input", { type: "checkbox", checked: s.subtract_dark,
          onchange: (e) => { s.subtract_dark = e.target.checked; this._save(); } }),
        el("span", {}, "Subtract dark frame")),
        el("button", { type: "button", class: "btn", onclick: () => this.shootDark() }, "Shoot dark frame (cap on)")],
    }[s.mode];
    $("#drive-options").replaceChildren(...opts);
    $("#drive-note").textContent = s.mode === "interval"
      ? "The interval timer keeps going on the camera if this phone disconnects."
      : s.mode === "long" ? "Long exposures use the ISO shown; the live view pauses while exposing." : "";
    this._label();
  }

  _save() {
    prefs.set("drive", this.settings);
    this._label();
  }

  _label() {
    const s = this.settings;
    const text = {
      single: "Single", timer: `Timer ${s.timer_s}s`, burst: `Burst ×${s.frames}`,
      bracket: `Bkt ${s.bracket_frames}×${s.ev_step}`, interval: `Int ${s.interval_s}s×${s.count}`,
      long: `Long ${durationLabel(s.exposure_time_s)}`,
    }[s.mode];
    $("#drive-label").textContent = text;
  }

  openSheet() { openSheet($("#drive-sheet")); }

  /** The request body for the chosen drive mode. */
  request() {
    const s = this.settings;
    const base = { format: s.format };
    const gain = this.controls.state?.ae_enable
      ? this.controls.state?.actual?.analogue_gain ?? 1 : this.controls.state?.analogue_gain ?? 1;
    switch (s.mode) {
      case "timer": return { ...base, mode: "single", self_timer_s: s.timer_s };
      case "burst": return { ...base, mode: "burst", frames: s.frames };
      case "bracket": return { ...base, mode: "bracket", frames: s.bracket_frames, ev_step: s.ev_step };
      case "interval": return { ...base, mode: "interval", interval_s: s.interval_s, count: s.count };
      case "long": return { ...base, mode: "long", exposure_time_s: s.exposure_time_s,
        analogue_gain: gain, subtract_dark: s.subtract_dark };
      default: return { ...base, mode: "single" };
    }
  }

  async shoot(body = this.request()) {
    if (this.busy) return;
    this.busy = true;
    this.button.dataset.busy = "true";
    flash();
    // A full-resolution still is developed on the Pi (several seconds); say so if it takes long.
    const busy = setTimeout(() => this._showBusy(), 800);
    const exposureS = body.exposure_time_s ?? (this.controls.state?.exposure_time_us ?? 0) / 1e6;
    try {
      const answer = await api("POST", "/api/capture", body, { timeoutMs: 180_000 + exposureS * 1000 });
      clearTimeout(busy);
      if (answer.state === "done") this._done(answer.files);
      else await this.follow(answer);
    } catch (e) {
      toast(e instanceof ApiError && e.unavailable ? "This camera cannot capture yet." : e.message, "error", 6000);
    } finally {
      clearTimeout(busy);
      this.busy = false;
      this.button.dataset.busy = "false";
      this._hideProgress();
    }
  }

  shootDark() {
    const s = this.settings;
    $("#drive-sheet").close();
    toast("Dark frame: put the lens cap on.");
    return this.shoot({ mode: "dark", format: s.format, exposure_time_s: s.exposure_time_s,
      analogue_gain: this.controls.state?.analogue_gain ?? 1 });
  }

  /** Poll a job until it ends, showing countdown and progress. */
  async follow(job) {
    this.job = job;
    this.button.setAttribute("aria-label", "Cancel capture");
    try {
      while (this.job && !["done", "cancelled", "failed"].includes(job.state)) {
        this._showProgress(job);
        await new Promise((r) => setTimeout(r, 250));
        try {
          job = await get(`/api/jobs/${encodeURIComponent(job.id)}`);
        } catch (e) {
          if (e.status === 0 || e.status === 503) continue;   // keeps running on the camera
          throw e;
        }
      }
      if (job.state === "failed") toast(job.error || "The capture failed.", "error", 6000);
      else if (job.state === "cancelled") toast(`Cancelled after ${job.frames_done} of ${job.frames_total}.`);
      else this._done(job.files || []);
    } finally {
      this.job = null;
      this.button.setAttribute("aria-label", "Capture");
    }
  }

  async cancel() {
    const job = this.job;
    if (!job) return;
    try {
      await api("POST", `/api/jobs/${encodeURIComponent(job.id)}/cancel`);
    } catch (e) {
      toast(e.message, "error");
    }
  }

  _showProgress(job) {
    const box = $("#countdown");
    box.hidden = false;
    const text = $("#countdown-text");
    const label = $("#countdown-label");
    if (job.phase === "waiting" && job.next_frame_in_s != null) {
      text.textContent = countdownText(job.next_frame_in_s);
      text.dataset.long = String(text.textContent.length > 3);
      label.textContent = job.frames_total > 1 ? `Next frame ${job.frames_done + 1} of ${job.frames_total}` : "Self-timer";
    } else if (job.phase === "saving") {
      text.dataset.long = "false";
      text.textContent = "…";
      label.textContent = "Saving";
    } else {
      text.textContent = `${Math.round((job.progress ?? 0) * 100)}%`;
      text.dataset.long = String(text.textContent.length > 3);
      label.textContent = `Exposing ${job.frames_done + 1 > job.frames_total ? job.frames_total : job.frames_done + 1} of ${job.frames_total}`;
    }
    $("#countdown-progress").value = job.progress ?? 0;
  }

  _showBusy() {
    if (this.job) return;
    $("#countdown").hidden = false;
    $("#countdown-text").textContent = "…";
    $("#countdown-label").textContent = "Saving the photo";
    $("#countdown-progress").removeAttribute("value");   // indeterminate
    $("#countdown-cancel").hidden = true;
  }

  _hideProgress() {
    $("#countdown").hidden = true;
    $("#countdown-cancel").hidden = false;
  }

  _done(files) {
    const s = this.controls.state;
    const exposure = s?.actual ? ` · ${shutterLabel(s.actual.exposure_time_us)} ISO ${s.actual.iso}` : "";
    toast(files.length ? `Saved ${files.join(", ")}${exposure}` : "Saved", "ok", 2500);
    bus.dispatchEvent(new CustomEvent("captured", { detail: files }));
  }
}

/** What fits in the countdown circle: "7" seconds, "4:05", "1:00:00". */
function countdownText(seconds) {
  const total = Math.max(0, Math.ceil(seconds));
  if (total < 60) return String(total);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

function flash() {
  const v = $("#viewfinder");
  v.animate([{ filter: "brightness(0.1)" }, { filter: "none" }], { duration: 180 });
}
