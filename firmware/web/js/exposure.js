// Camera-style value scales: shutter speeds, ISO, EV, apertures, white balance.
// Pure functions only (no DOM), so the same tables drive the dials and the status bar.

/** The IMX477's exposure range as the API accepts it (hal/imx477.py), microseconds. */
export const EXPOSURE_MIN_US = 114;
export const EXPOSURE_MAX_US = 653_950_000;
/** Analogue gain range; ISO = 100 x gain, as the Pi's camera stack states it. */
export const GAIN_MIN = 1.0;
export const GAIN_MAX = 22.26;

const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

function secondsLabel(s) {
  if (s < 0.3) return `1/${Math.round(1 / s)}`;
  if (s < 60) return `${s}"`;
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  return r ? `${m}m${String(r).padStart(2, "0")}` : `${m}m`;
}

// Nominal third-stop shutter speeds, as cameras label them, then the sensor's longest exposure.
const FRACTIONS = [8000, 6400, 5000, 4000, 3200, 2500, 2000, 1600, 1250, 1000, 800, 640, 500,
  400, 320, 250, 200, 160, 125, 100, 80, 60, 50, 40, 30, 25, 20, 15, 13, 10, 8, 6, 5, 4];
const SECONDS = [0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.3, 1.6, 2, 2.5, 3.2, 4, 5, 6, 8, 10, 13, 15, 20,
  25, 30, 40, 50, 60, 80, 100, 125, 160, 200, 250, 320, 400, 500, 640];

/** Shutter speeds from 1/8000 s to 653 s in third stops: ``{value: µs, label}``. */
export const SHUTTER_SPEEDS = [
  ...FRACTIONS.map((d) => ({ value: Math.round(1e6 / d), label: `1/${d}` })),
  ...SECONDS.map((s) => ({ value: Math.round(s * 1e6), label: secondsLabel(s) })),
  { value: EXPOSURE_MAX_US, label: secondsLabel(653) },
].map((v) => ({ ...v, value: clamp(v.value, EXPOSURE_MIN_US, EXPOSURE_MAX_US) }));

/** ISO 100 to the sensor's highest gain in third stops, labelled as cameras label them; the
 * top step is the sensor's own maximum (gain 22.26, "2200"). */
export const ISO_SPEEDS = [100, 125, 160, 200, 250, 320, 400, 500, 640, 800, 1000, 1250, 1600,
  2000, 2226].map((iso) => ({ value: iso, label: iso === 2226 ? "2200" : String(iso) }));

/** The standard label nearest an exact ISO (gain × 100): 194 -> "200", 112 -> "125". */
export function isoLabel(iso) {
  return ISO_SPEEDS[nearestLog(ISO_SPEEDS, iso)].label;
}

const THIRDS = ["", "⅓", "⅔"];
/** Exposure compensation label, e.g. +1⅓ or −⅔. */
export function evLabel(ev) {
  const thirds = Math.round(Math.abs(ev) * 3);
  const whole = Math.floor(thirds / 3);
  const frac = THIRDS[thirds % 3];
  if (thirds === 0) return "±0";
  const sign = ev > 0 ? "+" : "−";
  return `${sign}${whole || ""}${frac}`;
}

/** EV compensation −5…+5 in third stops. */
export const EV_STEPS = Array.from({ length: 31 }, (_, i) => {
  const ev = Math.round(((i - 15) / 3) * 1000) / 1000;
  return { value: ev, label: evLabel(ev) };
});

/** Full-stop and third-stop f-numbers as lens rings mark them. */
const F_NUMBERS = [0.95, 1, 1.1, 1.2, 1.4, 1.6, 1.8, 2, 2.2, 2.5, 2.8, 3.2, 3.5, 4, 4.5, 5, 5.6,
  6.3, 7.1, 8, 9, 10, 11, 13, 14, 16, 18, 20, 22, 25, 29, 32];

/** Apertures a lens offers, from its widest to its smallest f-number. */
export function apertures(widest = 1, smallest = 22) {
  const list = F_NUMBERS.filter((f) => f >= widest - 1e-6 && f <= smallest + 1e-6);
  if (!list.length || Math.abs(list[0] - widest) > 1e-6) list.unshift(widest);
  return list.map((f) => ({ value: f, label: `f/${f}` }));
}

export const METERING = [
  { value: "matrix", label: "Matrix" },
  { value: "centre", label: "Centre" },
  { value: "spot", label: "Spot" },
];

/** White-balance presets (the API's awb_mode) with the light they are for. */
export const WB_PRESETS = [
  { value: "auto", label: "Auto" },
  { value: "daylight", label: "Daylight" },
  { value: "cloudy", label: "Cloudy" },
  { value: "indoor", label: "Indoor" },
  { value: "fluorescent", label: "Fluorescent" },
  { value: "incandescent", label: "Incandescent" },
  { value: "tungsten", label: "Tungsten" },
];

/** Index of the entry nearest to ``value`` on a log scale (shutter, ISO, f-number). */
export function nearestLog(list, value) {
  let best = 0;
  let bestD = Infinity;
  list.forEach((item, i) => {
    const d = Math.abs(Math.log(item.value) - Math.log(value));
    if (d < bestD) { bestD = d; best = i; }
  });
  return best;
}

/** Index of the entry nearest to ``value`` on a linear scale (EV). */
export function nearestLinear(list, value) {
  let best = 0;
  list.forEach((item, i) => {
    if (Math.abs(item.value - value) < Math.abs(list[best].value - value)) best = i;
  });
  return best;
}

/** A shutter time for the status bar: the nearest third-stop label. */
export function shutterLabel(us) {
  return SHUTTER_SPEEDS[nearestLog(SHUTTER_SPEEDS, us)].label;
}

/** Shutter time as a precise duration for progress displays, e.g. "2 min 30 s". */
export function durationLabel(seconds) {
  if (seconds < 60) return `${Math.max(0, Math.ceil(seconds))} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.ceil(seconds - m * 60);
  return s ? `${m} min ${s} s` : `${m} min`;
}

export const isoOfGain = (gain) => Math.round(100 * gain);
export const gainOfIso = (iso) => clamp(iso / 100, GAIN_MIN, GAIN_MAX);

/** Bytes as a photographer reads a card: "3.2 GB free". */
export function bytesLabel(n) {
  if (n == null) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

