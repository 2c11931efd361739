// The mounted lens: pick it from the camera's registry (or add one), set the aperture the ring
// is at, and see what it gives on this sensor: 35 mm and 1-inch equivalents, angle of view,
// hyperfocal distance and depth of field at a few distances.

import { api, ApiError, bus, get } from "./api.js";
import { apertures, nearestLog } from "./exposure.js";
import { $, closeOnBackdrop, el, openSheet, toast } from "./ui.js";

// The same thin-lens optics as firmware/optics.py (IMX477: 4056 × 3040 pixels of 1.55 µm).
const PITCH_MM = 1.55e-3;
const SENSOR_W = 4056 * PITCH_MM;
const SENSOR_H = 3040 * PITCH_MM;
const DIAG = Math.hypot(SENSOR_W, SENSOR_H);
const CROP = Math.hypot(36, 24) / DIAG;
const ONE_INCH = Math.hypot(13.2, 8.8) / DIAG;

/** Circles of confusion to choose from; the first is the default (firmware/optics.py says
 * why: on this camera photos are looked at pixel by pixel on a phone, and a spot smaller than
 * two pixels cannot be told from sharp on a Bayer sensor). */
export const CIRCLES_OF_CONFUSION = [
  { id: "pixels", mm: 2 * PITCH_MM, label: "2 pixels (sharp at 100 %)" },
  { id: "print", mm: DIAG / 1500, label: "Diagonal ÷ 1500 (a print)" },
];
const COC_KEY = "mrig.coc";

function circleOfConfusion() {
  const id = localStorage.getItem(COC_KEY);
  return CIRCLES_OF_CONFUSION.find((c) => c.id === id) || CIRCLES_OF_CONFUSION[0];
}

/** Metres with as many decimals as the nearer distance needs, the same for both ends. */
function digitsFor(m) { return m < 1 ? 2 : m < 10 ? 1 : 0; }
function metres(m, digits = digitsFor(m)) { return Number.isFinite(m) ? m.toFixed(digits) : "∞"; }

/** "0.97 – 1.03 m", "0.996 – 1.004 m", "3.1 m – ∞": one unit for both ends of a depth of
 * field, with enough decimals (up to millimetres) that a shallow one does not read "1.00 – 1.00". */
export function rangeLabel(near, far) {
  const apart = Number.isFinite(far) ? Math.ceil(-Math.log10(far - near)) + 1 : 0;
  const digits = Math.min(3, Math.max(digitsFor(near), apart));
  return Number.isFinite(far) ? `${metres(near, digits)} – ${metres(far, digits)} m` : `${metres(near, digits)} m – ∞`;
}

/** Equivalents, angle of view and depth of field for focal length ``f`` (mm) at ``n``, with a
 * circle of confusion of ``cocMm``. */
export function opticsOf(f, n, cocMm = CIRCLES_OF_CONFUSION[0].mm) {
  const h = (f * f) / (n * cocMm) + f;
  const dof = (s) => {
    const near = (s * (h - f)) / (h + s - 2 * f);
    const far = s >= h ? Infinity : (s * (h - f)) / (h - s);
    return [near / 1000, far / 1000];
  };
  const angle = (d) => (2 * Math.atan(d / (2 * f)) * 180) / Math.PI;
  return {
    eq35: f * CROP, eq35N: n * CROP, eq1in: f * ONE_INCH, eq1inN: n * ONE_INCH,
    fovH: angle(SENSOR_W), hyperfocalM: h / 1000, dof,
  };
}

export class LensPanel {
  constructor(controls) {
    this.controls = controls;
    this.lenses = [];
    this.current = null;      // {id, f_number}
    this.available = true;
    $("#lens-btn").addEventListener("click", () => this.open());
    $("#lens-add").addEventListener("click", () => this.add());
    const coc = $("#lens-coc");
    coc.replaceChildren(...CIRCLES_OF_CONFUSION.map((c) => el("option", { value: c.id },
      `${c.label} (${c.mm.toFixed(4)} mm)`)));
    coc.value = circleOfConfusion().id;
    coc.addEventListener("change", () => {
      localStorage.setItem(COC_KEY, coc.value);
      this._render();
    });
    closeOnBackdrop($("#lens-sheet"));
    bus.addEventListener("aperture", (e) => this.setAperture(e.detail));
  }

  get lens() { return this.lenses.find((l) => l.id === this.current?.id) || this.current?.lens || null; }

  async start() {
    try {
      const [list, current] = await Promise.all([get("/api/lenses"), get("/api/lens")]);
      this.lenses = Array.isArray(list) ? list : list.lenses ?? list.items ?? [];
      this.current = current;
      this.available = true;
    } catch (e) {
      if (!(e instanceof ApiError && e.unavailable)) throw e;
      this.available = false;
    }
    this._render();
  }

  async open() {
    await this.start().catch((e) => toast(e.message, "error"));
    openSheet($("#lens-sheet"));
  }

  async choose(lens) {
    await this._put({ id: lens.id, f_number: lens.max_f_number });
  }

  async setAperture(f) {
    if (!this.current?.id) {
      toast("Pick the mounted lens first.");
      return this.open();
    }
    await this._put({ id: this.current.id, f_number: f });
  }

  async _put(body) {
    try {
      this.current = await api("PUT", "/api/lens", body);
    } catch (e) {
      toast(e.message, "error");
    }
    this._render();
  }

  async add() {
    const form = $("#lens-form");
    const value = (name) => form.elements[name].value.trim();
    const number = (name) => (value(name) === "" ? undefined : Number(value(name)));
    const spec = { name: value("name"), make: value("make"), focal_length_mm: number("focal_length_mm"),
      max_f_number: number("max_f_number"), min_f_number: number("min_f_number") };
    if (!spec.name || !spec.focal_length_mm || !spec.max_f_number) {
      toast("Give the lens a name, its focal length and its widest aperture.", "error");
      return;
    }
    try {
      const lens = await api("POST", "/api/lenses", spec);
      this.lenses.push(lens);
      for (const name of ["name", "make", "focal_length_mm", "max_f_number", "min_f_number"]) form.elements[name].value = "";
      $("#add-lens").open = false;
      await this.choose(lens);
      toast(`${lens.name} added`, "ok");
    } catch (e) {
      toast(e.message, "error", 6000);
    }
  }

  _render() {
    const lens = this.lens;
    const f = this.current?.f_number ?? lens?.max_f_number;
    $("#lens-note").textContent = this.available
      ? "An M lens has no electronics: tell the camera which lens is on and where its aperture ring is."
      : "This camera has no lens registry yet; lens and aperture are not recorded.";
    $("#lens-list").replaceChildren(...this.lenses.map((l) => el("button", {
      type: "button", class: "lens-item", role: "radio", "aria-checked": String(l.id === lens?.id),
      onclick: () => this.choose(l),
    }, l.name, el("small", {}, `${l.focal_length_mm} mm f/${l.max_f_number}${l.make ? ` · ${l.make}` : ""}`))));
    $("#add-lens").hidden = !this.available;

    const chip = $("#chip-aperture");
    const aperture = document.querySelector('.chip[data-dial="aperture"]');
    aperture.disabled = !this.available;
    const crop = CROP.toFixed(1);
    const focal = lens?.focal_length_mm ?? 50;
    $("#lens-crop").textContent = `This sensor is ${crop}× smaller than 35 mm film (by the `
      + `diagonal, ${DIAG.toFixed(1)} mm against 43.3 mm): a ${Math.round(focal)} mm lens frames `
      + `like a ${Math.round(focal * CROP)} mm on a 35 mm camera, and like a `
      + `${Math.round(focal * ONE_INCH)} mm on a 1-inch sensor.`;
    if (lens && f) {
      const coc = circleOfConfusion();
      const o = opticsOf(lens.focal_length_mm, f, coc.mm);
      const mm = Math.round(lens.focal_length_mm);
      $("#st-lens").textContent = `${mm} mm f/${f}`;
      $("#lens-label").textContent = `${mm} mm · ${Math.round(o.eq35)} eq`;
      chip.textContent = `f/${f}`;
      const values = apertures(lens.max_f_number, lens.min_f_number ?? 22);
      this.controls.setApertures(values, nearestLog(values, f));
      const row = (s) => {
        const [near, far] = o.dof(s * 1000);
        return [el("dt", {}, `Depth of field, focused at ${s} m`), el("dd", {}, rangeLabel(near, far))];
      };
      $("#lens-optics").replaceChildren(el("dl", { class: "optics" },
        el("dt", {}, "Lens"), el("dd", {}, `${lens.name}, f/${f}`),
        el("dt", {}, "35 mm equivalent"), el("dd", {}, `${Math.round(o.eq35)} mm f/${o.eq35N.toFixed(1)}`),
        el("dt", {}, "1-inch equivalent"), el("dd", {}, `${Math.round(o.eq1in)} mm f/${o.eq1inN.toFixed(1)}`),
        el("dt", {}, "Angle of view"), el("dd", {}, `${o.fovH.toFixed(1)}° across`),
        el("dt", {}, "Hyperfocal distance"),
        el("dd", {}, el("span", { "data-figure": "hyperfocal" }, `${metres(o.hyperfocalM)} m`)),
        ...row(1), ...row(2), ...row(5),
        el("dt", {}, "Circle of confusion"), el("dd", {}, `${(coc.mm * 1000).toFixed(1)} µm: ${coc.label}`)));
    } else {
      $("#st-lens").textContent = this.available ? "No lens" : "Lens —";
      $("#lens-label").textContent = this.available ? "Pick lens" : "—";
      chip.textContent = "—";
      $("#lens-optics").replaceChildren();
    }
  }
}
