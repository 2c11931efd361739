// Exposure modes, the setting chips and their dials, and the status bar.
//
// The four modes map onto the camera's automatic exposure (ae_enable, exposure_priority):
//   P  program: the camera picks shutter and ISO (ae_enable, priority "auto").
//   A  aperture priority: the same on the camera (an M lens's aperture is on its ring); the
//      app shows the aperture dial, which tells the camera what the ring is set to.
//   S  shutter priority: the shutter is held, the camera follows the light with the ISO
//      (ae_enable, priority "shutter").
//   M  manual: shutter and ISO as set (no ae_enable).

import { api, ApiError, bus, get } from "./api.js";
import { Dial } from "./dial.js";
import {
  EV_STEPS, ISO_SPEEDS, METERING, SHUTTER_SPEEDS, WB_PRESETS, evLabel, gainOfIso, isoLabel, isoOfGain, nearestLinear, nearestLog, shutterLabel,
} from "./exposure.js";
import { $, el, prefs, toast } from "./ui.js";

const POLL_MS = 1000;
/** Sensor temperature shown as a warning from here (the IMX477's dark current, and so its
 * noise and hot pixels, roughly doubles every 6-8 °C; at 55 °C long exposures show it). */
const SENSOR_HOT_C = 55;

export class Controls {
  constructor() {
    this.state = null;          // ControlsState from the API
    this.mode = prefs.get("mode", "P");
    this.kelvin = [];           // [{kelvin, colour_gains}]
    this.openDial = null;
    this.lens = null;           // set by the lens module: {current, lens, f_numbers}
    this._patching = Promise.resolve();
    this._modePinnedUntil = 0;
    this.dials = {
      shutter: new Dial({ label: "Shutter speed", values: SHUTTER_SPEEDS, id: "dial-shutter",
        steps: ["Faster", "Slower"], onChange: (us) => this.setShutter(us) }),
      iso: new Dial({ label: "ISO", values: ISO_SPEEDS, id: "dial-iso",
        onChange: (iso) => this.setIso(iso) }),
      aperture: new Dial({ label: "Aperture", values: [{ value: 0, label: "—" }], id: "dial-aperture",
        steps: ["Wider", "Smaller"],
        onChange: (f) => bus.dispatchEvent(new CustomEvent("aperture", { detail: f })) }),
      ev: new Dial({ label: "Exposure compensation", values: EV_STEPS, id: "dial-ev",
        onChange: (ev) => this.setEv(ev) }),
      wb: new Dial({ label: "White balance", values: WB_PRESETS.map((p) => ({ ...p, value: { preset: p.value } })),
        id: "dial-wb", onChange: (v) => this.setWhiteBalance(v) }),
      metering: new Dial({ label: "Metering", values: METERING, id: "dial-metering",
        onChange: (m) => this.patch({ metering: m }) }),
    };
    const host = $("#dial-host");
    for (const dial of Object.values(this.dials)) host.append(dial.root);
    // AE lock and AWB lock: under the EV dial and the WB dial, where the photographer is
    // thinking about them. A lock holds what automatic exposure or white balance chose.
    this.locks = {
      ev: el("button", { type: "button", class: "btn lock-btn", id: "ae-lock", "aria-pressed": "false", hidden: true,
        onclick: () => this.patch({ ae_lock: !this.state?.ae_lock }) }, "AE lock"),
      wb: el("button", { type: "button", class: "btn lock-btn", id: "awb-lock", "aria-pressed": "false", hidden: true,
        onclick: () => this.patch({ awb_lock: !this.state?.awb_lock }) }, "AWB lock"),
    };
    this.dials.ev.root.append(this.locks.ev);
    this.dials.wb.root.append(this.locks.wb);
    for (const chip of document.querySelectorAll(".chip")) {
      // In M the EV chip is the meter: a tap there chooses how it meters.
      chip.addEventListener("click", () => this.toggleDial(
        chip.dataset.dial === "ev" && this.mode === "M" ? "metering" : chip.dataset.dial));
    }
    for (const button of document.querySelectorAll("#modes [data-mode]")) {
      button.addEventListener("click", () => this.setMode(button.dataset.mode));
    }
    // The exact gain behind a standard ISO label: a tap on the status bar's ISO, or a long
    // press on the ISO chip (a short one opens its dial).
    const exactIso = () => toast($("#st-iso").title);
    $("#st-iso").addEventListener("click", exactIso);
    const isoChip = document.querySelector('.chip[data-dial="iso"]');
    let pressTimer = 0;
    isoChip.addEventListener("pointerdown", () => {
      pressTimer = setTimeout(() => { pressTimer = -1; exactIso(); }, 500);
    });
    isoChip.addEventListener("pointerup", () => { if (pressTimer > 0) clearTimeout(pressTimer); });
    isoChip.addEventListener("pointerleave", () => { if (pressTimer > 0) clearTimeout(pressTimer); });
    isoChip.addEventListener("click", (e) => {
      if (pressTimer === -1) { e.stopImmediatePropagation(); pressTimer = 0; }
    }, { capture: true });
    this.meterEv = null;
    bus.addEventListener("live", (e) => {
      // Punched in, the analysed frame is the magnified patch: the reading of the whole frame
      // is kept until the view goes back to 1x (as the exposure is). No analysis: no reading.
      if (e.detail && (this.state?.held ?? []).includes("magnify")) return;
      this.meterEv = e.detail?.meter?.ev ?? null;
      if (this.state) this._renderMeter(this.state);
      // The frame the meter read: the status bar shows its shutter and ISO at once, so the
      // two never disagree until the next poll of the controls.
      const frame = e.detail;
      if (frame?.exposure_time_us) setText("#st-shutter", shutterLabel(frame.exposure_time_us));
      if (frame?.analogue_gain) setText("#st-iso", `ISO ${isoLabel(isoOfGain(frame.analogue_gain))}`);
    });
  }

  /** In M the EV chip is the light meter: stops over or under by the metering mode, live. */
  _renderMeter(state) {
    const manual = this.mode === "M";
    const reading = manual ? this.meterEv?.[state.metering] : undefined;
    const text = reading == null ? "—" : meterLabel(reading);
    setText('.chip[data-dial="ev"] small', manual ? "EXPOSURE" : state.ae_lock ? "EV · AEL" : "EV");
    if (manual) {
      setChip("ev", text, false);
      setText("#st-ev", reading == null ? "M" : `M ${text}`);
    }
  }

  async start() {
    try {
      const table = await get("/api/ui/kelvin");
      this.kelvin = table.steps;
      const ranges = table.awb_modes ?? {};
      // Presets named with the colour temperatures they look in: three warm ones differ here.
      const presets = WB_PRESETS.map((p) => ({ ...p, value: { preset: p.value },
        label: p.value !== "auto" && ranges[p.value] ? `${p.label} ${ranges[p.value][0]}–${ranges[p.value][1]}K` : p.label }));
      const kelvins = this.kelvin.map((row) => ({ value: { kelvin: row.kelvin, gains: row.colour_gains },
        label: `${row.kelvin}K` }));
      this.dials.wb.setValues([...presets, ...kelvins]);
    } catch (e) {
      if (!(e instanceof ApiError && e.unavailable)) throw e;
    }
    this._renderMode();
    // No dial is open on a page just loaded: the rig's encoder goes back to its default.
    api("PUT", "/api/ui/dial", { dial: null }).catch(() => null);
    this.poll();
  }

  async poll() {
    clearTimeout(this._pollTimer);
    try {
      this.update(await get("/api/controls"));
    } catch (e) {
      if (!(e instanceof ApiError)) console.error(e);
    }
    const delay = document.hidden ? 5000 : POLL_MS;
    this._pollTimer = setTimeout(() => this.poll(), delay);
  }

  /** Serialise changes so the dials never race each other. */
  patch(changes) {
    const run = async () => {
      try {
        this.update(await api("PATCH", "/api/controls", changes));
        return true;
      } catch (e) {
        toast(e.message, "error");
        this.poll();
        return false;
      }
    };
    this._patching = this._patching.then(run, run);
    return this._patching;
  }

  toggleDial(name) {
    const open = this.openDial === name ? null : name;
    this.openDial = open;
    // The rig's rotary encoder turns the dial open here (the last phone to open one wins).
    api("PUT", "/api/ui/dial", { dial: open }).catch(() => null);
    for (const [key, dial] of Object.entries(this.dials)) dial.root.hidden = key !== open;
    for (const chip of document.querySelectorAll(".chip")) {
      chip.setAttribute("aria-expanded", String(chip.dataset.dial === open));
    }
    if (open) {
      const dial = this.dials[open];
      dial.show(dial.index);
      dial.track.focus({ preventScroll: true });
    }
  }

  // ---- modes ----------------------------------------------------------------------

  async setMode(mode) {
    const actual = this.state?.actual;
    this._pinMode();
    this.mode = mode;
    prefs.set("mode", mode);
    this._renderMode();
    if (mode === "P" || mode === "A") {
      await this.patch({ ae_enable: true, exposure_priority: "auto" });
      if (mode === "A") this.toggleDial("aperture");
    } else if (mode === "S") {
      const us = actual ? SHUTTER_SPEEDS[nearestLog(SHUTTER_SPEEDS, actual.exposure_time_us)].value
        : this.state?.exposure_time_us;
      await this.setShutter(us);
      this.toggleDial("shutter");
    } else if (this.state) {
      // M holds what the camera was doing; before its first frame, what the dials show.
      const held = actual ?? this.state;
      await this.patch({ exposure_time_us: held.exposure_time_us,
        analogue_gain: held.analogue_gain, ae_enable: false });
    }
  }

  /** In M the shutter is simply set; anywhere else turning it means shutter priority. */
  async setShutter(us) {
    this._pinMode();
    if (this.mode === "M") return this.patch({ exposure_time_us: us, ae_enable: false });
    if (this.mode !== "S") {
      this.mode = "S";
      prefs.set("mode", "S");
      this._renderMode();
    }
    return this.patch({ exposure_time_us: us, ae_enable: true, exposure_priority: "shutter" });
  }

  async setIso(iso) {
    this._pinMode();
    if (this.mode !== "M") {
      this.mode = "M";
      prefs.set("mode", "M");
      this._renderMode();
    }
    const actual = this.state?.actual;
    const us = this.state?.ae_enable && actual ? actual.exposure_time_us : this.state?.exposure_time_us;
    return this.patch({ analogue_gain: gainOfIso(iso), exposure_time_us: us, ae_enable: false });
  }

  setEv(ev) {
    return this.patch({ ev });
  }

  setWhiteBalance(v) {
    if (v.preset) return this.patch({ awb_enable: true, awb_mode: v.preset });
    return this.patch({ colour_gains: v.gains, awb_enable: false });
  }

  // ---- state from the camera ------------------------------------------------------------

  update(state) {
    this.state = state;
    const a = state.actual;
    const shutterHeld = state.ae_enable && state.exposure_priority === "shutter";
    // Another phone (or the camera's own button) may have changed the mode; follow it unless
    // this phone changed it a moment ago and the answer is still on its way.
    if (performance.now() > this._modePinnedUntil) {
      if (!state.ae_enable) this.mode = "M";
      else if (shutterHeld) this.mode = "S";
      else if (this.mode === "S" || this.mode === "M") this.mode = prefs.get("autoMode", "P");
    }
    if (this.mode === "P" || this.mode === "A") prefs.set("autoMode", this.mode);
    this._renderMode();

    const auto = state.ae_enable;
    const shutterUs = auto && !shutterHeld && a ? a.exposure_time_us : state.exposure_time_us;
    const gain = auto && a ? a.analogue_gain : state.analogue_gain;
    this.dials.shutter.sync(nearestLog(SHUTTER_SPEEDS, shutterUs));
    this.dials.iso.sync(nearestLog(ISO_SPEEDS, isoOfGain(gain)));
    this.dials.ev.sync(nearestLinear(EV_STEPS, state.ev));
    this.dials.metering.sync(Math.max(0, METERING.findIndex((m) => m.value === state.metering)));
    // Spot metering reads where the photographer tapped: the marker shows the spot.
    $("#focus-point").dataset.spot = String(state.metering === "spot");
    this.dials.wb.sync(this._wbIndex(state));

    setChip("shutter", auto && !shutterHeld ? "Auto" : shutterLabel(state.exposure_time_us),
      auto && !shutterHeld);
    setChip("iso", auto ? "Auto" : isoLabel(isoOfGain(state.analogue_gain)), auto);
    if (this.mode !== "M") setChip("ev", evLabel(state.ev), false);
    // Locks: pressed while on; offered only while the camera chooses that setting itself.
    this.locks.ev.hidden = !state.ae_enable;
    this.locks.ev.setAttribute("aria-pressed", String(Boolean(state.ae_lock)));
    this.locks.wb.hidden = !state.awb_enable;
    this.locks.wb.setAttribute("aria-pressed", String(Boolean(state.awb_lock)));
    setText('.chip[data-dial="wb"] small', state.awb_lock ? "WB · LOCK" : "WB");
    setChip("metering", METERING.find((m) => m.value === state.metering)?.label ?? state.metering, false);
    const wb = this.dials.wb.values[this._wbIndex(state)];
    setChip("wb", state.awb_enable ? (wb?.label ?? "Auto") : `${wb?.label ?? "Manual"}`, state.awb_enable && state.awb_mode === "auto");

    // Status bar: what the camera actually did for the latest frame.
    setText("#st-shutter", a ? shutterLabel(a.exposure_time_us) : shutterLabel(state.exposure_time_us));
    const frameGain = a ? a.analogue_gain : state.analogue_gain;
    setText("#st-iso", `ISO ${isoLabel(isoOfGain(frameGain))}`);
    // The exact figure, for whoever wants it: a tap on it, or a long look.
    $("#st-iso").title = `ISO ${isoOfGain(frameGain)} exactly: analogue gain ${frameGain.toFixed(2)}`;
    setText("#st-wb", a ? `${a.colour_temperature}K` : "—K");
    const held = state.held ?? [];
    if (this.mode !== "M") {
      setText("#st-ev", held.includes("ae_lock") ? "AEL" : held.includes("magnify") ? "Held" : evLabel(state.ev));
    }
    this._renderMeter(state);
    $("#st-shutter").dataset.auto = String(auto && !shutterHeld);
    $("#st-iso").dataset.auto = String(auto);
    // The sensor's temperature only when it is a warning: noise and hot pixels grow with it.
    const temp = a?.sensor_temperature_c;
    const hot = temp != null && temp >= SENSOR_HOT_C;
    $("#st-temp").hidden = !hot;
    if (hot) setText("#st-temp", `Sensor ${Math.round(temp)}°C`);
    bus.dispatchEvent(new CustomEvent("controls", { detail: state }));
  }

  _wbIndex(state) {
    const values = this.dials.wb.values;
    if (state.awb_enable) {
      return Math.max(0, values.findIndex((v) => v.value.preset === state.awb_mode));
    }
    const [r, b] = state.colour_gains;
    let best = -1;
    let bestD = Infinity;
    values.forEach((v, i) => {
      if (!v.value.gains) return;
      const d = (v.value.gains[0] - r) ** 2 + (v.value.gains[1] - b) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    });
    return best < 0 ? 0 : best;
  }

  _pinMode(ms = 2500) {
    this._modePinnedUntil = performance.now() + ms;
  }

  _renderMode() {
    for (const button of document.querySelectorAll("#modes [data-mode]")) {
      button.setAttribute("aria-checked", String(button.dataset.mode === this.mode));
    }
    setText("#st-mode", this.mode);
    if (this.mode === "M" && this.openDial === "ev") this.toggleDial("ev");
    if (this.state) this._renderMeter(this.state);
  }

  /** The aperture dial follows the mounted lens (called by the lens module). */
  setApertures(values, index) {
    this.dials.aperture.setValues(values, index);
    this.dials.aperture.sync(index);
  }
}

function setText(selector, text) {
  const node = $(selector);
  if (node.textContent !== text) node.textContent = text;
}

function setChip(name, text, auto) {
  setText(`#chip-${name}`, text);
  $(`#chip-${name}`).closest(".chip").dataset.auto = String(Boolean(auto));
}

/** A meter reading: "+1.3", "−0.7", "0" (tenths of a stop; beyond ±5 the arrow). */
function meterLabel(ev) {
  if (ev > 5) return "+5 ▶";
  if (ev < -5) return "◀ −5";
  const tenths = Math.round(ev * 10) / 10;
  if (tenths === 0) return "0";
  return `${tenths > 0 ? "+" : "−"}${Math.abs(tenths).toFixed(1)}`;
}
