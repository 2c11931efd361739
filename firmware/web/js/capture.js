// The shutter button, drive modes and the progress of long work (with cancel).
// POST /api/capture takes {mode, format, self_timer_s, ...}. A single press answers as soon as
// its DNG is on the card (the JPEG develops afterwards), so presses are never locked out: each
// tap is a photo or a refusal said in words (buffer full, card full, a drive mode running).
// Longer drive modes answer with a job (202), followed until it ends; the shutter button
// cancels it meanwhile.

import { api, ApiError, bus, fieldMessage, get } from "./api.js";
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
    this.starting = false;
    this.pressing = 0;
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
    // data-field: the API's name for the value, where its 422 points.
    const number = (key, label, attrs, field = key) => el("label", {}, label, el("input", {
      type: "number", inputmode: "decimal", value: String(s[key]), "data-field": field, ...attrs,
      onchange: (e) => { s[key] = Number(e.target.value); this._clearFieldErrors(); this._save(); },
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
    if (body.mode === "single" && !body.self_timer_s) return this.press(body);
    if (this.starting) {   // the camera has not answered the first tap yet
      toast("Starting the drive mode…", "ok", 1500);
      return;
    }
    if (this.job) return;   // while a job runs the button cancels it
    this.starting = true;
    this._clearFieldErrors();
    try {
      const answer = await api("POST", "/api/capture", body, { timeoutMs: 30_000 });
      // A drive mode takes the view back to 1x (the camera says so): follow it.
      if (body.mode !== "single") bus.dispatchEvent(new Event("magnify-sync"));
      if (answer.state === "done") this._done(answer.files);
      else await this.follow(answer);
    } catch (e) {
      this._refused(e);
    } finally {
      this.starting = false;
      this._hideProgress();
    }
  }

  /** One photo now. Taps are never dropped: each is answered when its raw is on the card. */
  async press(body) {
    flash();
    this.pressing += 1;
    this.button.dataset.saving = "true";
    const exposureS = (this.controls.state?.exposure_time_us ?? 0) / 1e6;
    try {
      const answer = await api("POST", "/api/capture", body, { timeoutMs: 60_000 + exposureS * 1000 });
      this._done(answer.files);
    } catch (e) {
      this._refused(e);
    } finally {
      this.pressing -= 1;
      this.button.dataset.saving = String(this.pressing > 0);
    }
  }

  /** A refusal in words; a value out of range is also shown next to its field in the sheet. */
  _refused(e) {
    if (e instanceof ApiError && e.status === 422 && Array.isArray(e.detail) && this._fieldErrors(e.detail)) {
      openSheet($("#drive-sheet"));
    }
    toast(e instanceof ApiError && e.unavailable ? "This camera cannot capture yet." : e.message, "error", 6000);
  }

  _fieldErrors(detail) {
    let shown = false;
    for (const item of detail) {
      const field = String((item.loc || []).at(-1) ?? "");
      const input = $("#drive-options").querySelector(`[data-field="${CSS.escape(field)}"]`);
      if (!input) continue;
      input.setAttribute("aria-invalid", "true");
      input.after(el("small", { class: "field-error", role: "alert" }, fieldMessage(item)));
      shown = true;
    }
    return shown;
  }

  _clearFieldErrors() {
    for (const node of document.querySelectorAll("#drive-options .field-error")) node.remove();
    for (const node of document.querySelectorAll('#drive-options [aria-invalid="true"]')) node.removeAttribute("aria-invalid");
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
    this.button.dataset.busy = "true";
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
      this.button.dataset.busy = "false";
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

  /** "3 of 10 · next in 7 s", a self-timer's countdown, a long exposure's time left. */
  _showProgress(job) {
    $("#countdown").hidden = false;
    const text = $("#countdown-text");
    const many = job.frames_total > 1;
    const taken = `${job.frames_done} of ${job.frames_total}`;
    let ring;
    let label;
    if (job.phase === "waiting" && job.next_frame_in_s != null) {
      ring = countdownText(job.next_frame_in_s);
      label = many ? `${taken} · next in ${durationWords(job.next_frame_in_s)}` : "Self-timer";
    } else if (job.phase === "saving") {
      ring = many ? `${job.frames_saved}/${job.frames_total}` : "…";
      label = `Saving ${job.frames_saved} of ${job.frames_total} to the card`;
    } else if (job.exposure_left_s != null && job.exposure_left_s >= 2) {
      ring = countdownText(job.exposure_left_s);
      label = many ? `Exposing ${Math.min(job.frames_done + 1, job.frames_total)} of ${job.frames_total}` : "Exposing";
    } else {
      ring = many ? `${job.frames_done}/${job.frames_total}` : `${Math.round((job.progress ?? 0) * 100)}%`;
      label = many ? `${taken} taken` : "Exposing";
    }
    text.textContent = ring;
    text.dataset.long = String(ring.length > 3);
    $("#countdown-label").textContent = label;
    $("#countdown-progress").value = job.progress ?? 0;
  }

  _hideProgress() {
    $("#countdown").hidden = true;
    $("#countdown-cancel").hidden = false;
  }

  _done(files) {
    const s = this.controls.state;
    const exposure = s?.actual ? ` · ${shutterLabel(s.actual.exposure_time_us)} ISO ${s.actual.iso}` : "";
    const names = [...new Set(files.map((f) => f.replace(/\.\w+$/, "")))];
    const what = names.length > 1 ? `${names.length} photos` : names[0] ?? "";
    toast(files.length ? `Saved ${what}${exposure}` : "Saved", "ok", 2500);
    bus.dispatchEvent(new CustomEvent("captured", { detail: files }));
  }
}

/** "7 s", "4 min 5 s", "1 h 2 min". */
function durationWords(seconds) {
  const total = Math.max(0, Math.ceil(seconds));
  if (total < 60) return `${total} s`;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  return h ? `${h} h ${m} min` : `${m} min ${total % 60} s`;
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
