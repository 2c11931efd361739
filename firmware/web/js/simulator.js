// The virtual camera's simulator: its lens rings and its light, from the phone. Offered only
// when the camera has them (GET /api/mock/lens answers; on a Pi it is 404).

import { api, ApiError, get } from "./api.js";
import { $, closeOnBackdrop, openSheet, toast } from "./ui.js";

const FOCUS_FAR_M = 1000;     // the ring's end: as good as infinity for any lens here
const LUX_MIN = 0.1;
const LUX_MAX = 100000;
const SEND_MS = 120;          // one PATCH per this while a slider moves

/** Full, half and third f-stops from ``widest`` to ``smallest`` (the ring's clicks). */
function fStops(widest, smallest) {
  const stops = [];
  for (let i = 0; ; i += 1) {
    const f = Math.round(widest * Math.SQRT2 ** (i / 3) * 10) / 10;
    if (f > smallest + 1e-6) break;
    stops.push(f);
  }
  if (stops.at(-1) < smallest) stops.push(smallest);
  return stops;
}

/** A position 0..1000 on a logarithmic scale from ``lo`` to ``hi``, and back. */
const toLog = (v, lo, hi) => Math.round((1000 * Math.log(v / lo)) / Math.log(hi / lo));
const fromLog = (p, lo, hi) => lo * (hi / lo) ** (p / 1000);

function luxWords(lux) {
  const place = lux < 1 ? "moonlit street" : lux < 50 ? "dim room" : lux < 500 ? "living room"
    : lux < 2000 ? "office" : lux < 20000 ? "overcast day" : "sunlight";
  return `${lux < 10 ? lux.toFixed(1) : Math.round(lux)} lux · ${place}`;
}

export class Simulator {
  constructor() {
    this.lens = null;
    this.timers = {};
    this.pending = {};
    closeOnBackdrop($("#sim-sheet"));
    $("#sim-open").addEventListener("click", () => this.open());
    $("#sim-done").addEventListener("click", () => $("#sim-sheet").close());
    $("#sim-focus").addEventListener("input", (e) => {
      const m = this._focusM(Number(e.target.value));
      this._show();
      this._send("lens", { focus_distance_m: m });
    });
    $("#sim-aperture").addEventListener("input", () => {
      this._show();
      this._send("lens", { f_number: this.stops[Number($("#sim-aperture").value)] });
    });
    $("#sim-lux").addEventListener("input", (e) => {
      this._show();
      this._send("scene", { lux: Math.round(fromLog(Number(e.target.value), LUX_MIN, LUX_MAX) * 10) / 10 });
    });
    $("#sim-kelvin").addEventListener("input", (e) => {
      this._show();
      this._send("scene", { colour_temperature: Number(e.target.value) });
    });
    // On, it has happened since boot too; off, as after a restart with a good supply.
    $("#sim-undervoltage").addEventListener("change", (e) => this._send("power",
      { undervoltage_now: e.target.checked, undervoltage_since_boot: e.target.checked }));
    $("#sim-throttled").addEventListener("change", (e) => this._send("power", { throttled_now: e.target.checked }));
    $("#sim-cpu").addEventListener("input", (e) => {
      this._show();
      this._send("power", { cpu_temperature_c: Number(e.target.value) });
    });
    $("#sim-has-battery").addEventListener("change", (e) => {
      $("#sim-battery").disabled = !e.target.checked;
      this._show();
      this._send("power", { battery_percent: e.target.checked ? Number($("#sim-battery").value) : null });
    });
    $("#sim-battery").addEventListener("input", (e) => {
      this._show();
      this._send("power", { battery_percent: Number(e.target.value) });
    });
  }

  /** Show the entry in the More sheet if this camera is the virtual one. */
  async start() {
    try {
      await get("/api/mock/lens");
      $("#sim-open").hidden = false;
    } catch (e) {
      if (!(e instanceof ApiError && e.unavailable)) throw e;
    }
  }

  async open() {
    $("#aids-sheet").close();
    let lens;
    let scene;
    let power;
    try {
      [lens, scene, power] = await Promise.all([get("/api/mock/lens"), get("/api/mock/scene"),
        get("/api/mock/power")]);
    } catch (e) {
      toast(e.message, "error");
      return;
    }
    this.lens = lens;
    this.stops = fStops(lens.widest_f_number, lens.smallest_f_number);
    $("#sim-lens").textContent = `${lens.name}: focuses from ${lens.closest_focus_m} m, `
      + `f/${lens.widest_f_number} to f/${lens.smallest_f_number}.`;
    $("#sim-focus").value = String(toLog(Math.min(lens.focus_distance_m, FOCUS_FAR_M), lens.closest_focus_m, FOCUS_FAR_M));
    const aperture = $("#sim-aperture");
    aperture.max = String(this.stops.length - 1);
    let nearest = 0;
    this.stops.forEach((f, i) => {
      if (Math.abs(Math.log(f / lens.f_number)) < Math.abs(Math.log(this.stops[nearest] / lens.f_number))) nearest = i;
    });
    aperture.value = String(nearest);
    $("#sim-lux").value = String(toLog(scene.lux, LUX_MIN, LUX_MAX));
    $("#sim-kelvin").value = String(scene.colour_temperature);
    $("#sim-undervoltage").checked = power.undervoltage_now;
    $("#sim-throttled").checked = power.throttled_now;
    $("#sim-cpu").value = String(Math.round(power.cpu_temperature_c ?? 48));
    $("#sim-has-battery").checked = power.battery_percent != null;
    $("#sim-battery").disabled = power.battery_percent == null;
    $("#sim-battery").value = String(Math.round(power.battery_percent ?? 80));
    this._show();
    openSheet($("#sim-sheet"));
  }

  _focusM(position) {
    return Math.round(fromLog(position, this.lens.closest_focus_m, FOCUS_FAR_M) * 100) / 100;
  }

  _show() {
    const m = this._focusM(Number($("#sim-focus").value));
    $("#sim-focus-out").textContent = m >= FOCUS_FAR_M * 0.99 ? "∞" : `${m < 10 ? m.toFixed(2) : Math.round(m)} m`;
    $("#sim-aperture-out").textContent = `f/${this.stops[Number($("#sim-aperture").value)]}`;
    $("#sim-lux-out").textContent = luxWords(fromLog(Number($("#sim-lux").value), LUX_MIN, LUX_MAX));
    $("#sim-kelvin-out").textContent = `${$("#sim-kelvin").value} K`;
    $("#sim-cpu-out").textContent = `${$("#sim-cpu").value} °C`;
    $("#sim-battery-out").textContent = $("#sim-has-battery").checked ? `${$("#sim-battery").value} %` : "none";
  }

  /** PATCH the rig, at most once per SEND_MS per part, the latest values winning. */
  _send(part, changes) {
    this.pending[part] = { ...this.pending[part], ...changes };
    if (this.timers[part]) return;
    this.timers[part] = setTimeout(async () => {
      const body = this.pending[part];
      delete this.pending[part];
      this.timers[part] = null;
      try {
        const url = { lens: "/api/mock/lens", scene: "/api/mock/scene", power: "/api/mock/power" }[part];
        await api("PATCH", url, body);
      } catch (e) {
        toast(e.message, "error");
      }
    }, SEND_MS);
  }
}
