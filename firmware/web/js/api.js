// Talking to the camera: one fetch wrapper that adds the CSRF token, turns HTTP errors into
// sentences a photographer understands, and announces lost connections and logins needed.

/** App-wide events: "auth-required", "online", "offline", "camera-state". */
export const bus = new EventTarget();
export const emit = (type, detail) => bus.dispatchEvent(new CustomEvent(type, { detail }));

let csrfToken = sessionStorage.getItem("mrig.csrf") || null;
export function setCsrfToken(token) {
  csrfToken = token || null;
  if (token) sessionStorage.setItem("mrig.csrf", token);
  else sessionStorage.removeItem("mrig.csrf");
}

/** The API's field names in the photographer's words. */
const FIELD_NAMES = {
  exposure_time_us: "Shutter speed",
  analogue_gain: "ISO",
  ev: "Exposure compensation",
  colour_gains: "White balance",
  awb_mode: "White balance",
  metering: "Metering",
  f_number: "Aperture",
  focal_length_mm: "Focal length",
  max_f_number: "Widest aperture",
  min_f_number: "Smallest aperture",
  name: "Lens name",
  count: "Number of shots",
  interval_s: "Interval",
  seconds: "Exposure time",
  self_timer_s: "Self-timer",
  exposure_time_s: "Exposure time",
  frames: "Number of frames",
  ev_step: "Bracketing step",
  password: "The password",
  new_password: "The new password",
  current_password: "Your current password",
  setup_code: "The setup code",
  notes: "Notes",
};

function fieldWords(loc) {
  const field = [...(loc || [])].reverse().find((p) => typeof p === "string" && p !== "body");
  return FIELD_NAMES[field] || (field ? field.replaceAll("_", " ") : "Value");
}

/** A value in camera units where we know them (µs → s, gain → ISO). */
function unitWords(field, v) {
  if (field === "exposure_time_us") return `${v / 1e6} s`;
  if (field === "analogue_gain") return `ISO ${Math.round(v * 100)}`;
  if (field.endsWith("_s")) return v > 0 && v < 0.5 ? `1/${Math.round(1 / v)} s` : `${v} s`;
  if (field.endsWith("_mm")) return `${v} mm`;
  if (field.includes("f_number")) return `f/${v}`;
  return String(v);
}

/** "allowed 1/8772 s to 653 s" from our 422s, or "at most 653.95 s" from pydantic's. */
function rangeWords(item) {
  const field = String((item.loc || []).at(-1) ?? "");
  const a = item.allowed;
  if (a) return `allowed ${unitWords(field, a.min)} to ${unitWords(field, a.max)}`;
  const ctx = item.ctx || {};
  const type = item.type || "";
  if (type.startsWith("less")) return `at most ${unitWords(field, ctx.le ?? ctx.lt)}`;
  if (type.startsWith("greater")) return `at least ${unitWords(field, ctx.ge ?? ctx.gt)}`;
  return null;
}

/** What is wrong with a text, a missing field or a choice, from pydantic's error type
 * (docs.pydantic.dev, "Validation Errors"), never its programmer's wording. */
function problemWords(item, what) {
  const ctx = item.ctx || {};
  switch (item.type) {
    case "string_too_short":
      return ctx.min_length === 1 ? `${what} is empty.` : `${what} needs at least ${ctx.min_length} characters.`;
    case "string_too_long": return `${what} can have at most ${ctx.max_length} characters.`;
    case "missing": return `${what} is missing.`;
    case "literal_error": case "enum": return `${what} must be one of ${ctx.expected}.`;
    case "string_pattern_mismatch": return `${what} is not in the expected form.`;
    case "value_error": {  // our own validators already speak in words
      const words = String(item.msg || "").replace(/^Value error, /, "");
      return words ? `${words[0].toUpperCase()}${words.slice(1)}.` : null;
    }
    default: return null;
  }
}

/** One 422 item in words: "Number of frames out of range: allowed 2 to 100.", "The password
 * needs at least 8 characters." */
export function fieldMessage(item) {
  const range = rangeWords(item);
  const what = fieldWords(item.loc);
  if (range) return `${what} out of range: ${range}.`;
  return problemWords(item, what) || `${what}: ${item.msg}.`;
}

/** A sentence for an error answer, from its status and ``detail``. */
export function describeError(status, detail) {
  const text = typeof detail === "string" ? detail : "";
  switch (status) {
    case 0: return "Can't reach the camera — check the Wi-Fi. Reconnecting…";
    case 401: return "Please log in to the camera.";
    case 403: return "The camera refused this request; log in again.";
    case 404: return text && !/^not found$/i.test(text) ? text : "Not available on this camera.";
    case 409: {
      const words = text.replace(/^busy:\s*/, "");
      return words ? words[0].toUpperCase() + words.slice(1) : "The camera is busy with another shot.";
    }
    case 413: return "That is too large for the camera.";
    case 422: {
      if (Array.isArray(detail) && detail.length) return detail.map(fieldMessage).join(" ");
      return text || "That value is out of range.";
    }
    case 429: return "Too many tries — wait a minute, then try again.";
    case 503:
      // The buffer of shots waiting for the card is full: a moment, not a fault.
      if (/^buffer full/.test(text)) return `Buffer full — ${text.replace(/^buffer full:\s*/, "")}.`;
      return `Camera reconnecting…${text ? ` (${text.replace(/^camera recovering:\s*/, "")})` : ""}`;
    case 507: return `Card full — delete some photos to make room.${text ? ` ${text}` : ""}`;
    default: return text || `The camera answered ${status}.`;
  }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(describeError(status, detail));
    this.status = status;
    this.detail = detail;
  }
  get unavailable() { return this.status === 404 || this.status === 405; }
}

let online = true;
function setOnline(value) {
  if (value !== online) {
    online = value;
    emit(value ? "online" : "offline");
  }
}

/**
 * ``api("PATCH", "/api/controls", {ev: 1})`` → parsed JSON (or the Response for ``raw``).
 * Throws :class:`ApiError` with a photographer's message.
 */
export async function api(method, path, body, { timeoutMs = 10_000, raw = false, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const timeout = AbortSignal.timeout(timeoutMs);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (e) {
    if (signal?.aborted) throw e;
    setOnline(false);
    throw new ApiError(0, String(e));
  }
  setOnline(true);
  if (!response.ok) {
    let detail = null;
    try { detail = (await response.json()).detail; } catch { /* not JSON */ }
    if (response.status === 401 || (response.status === 403 && /csrf/i.test(String(detail)))) {
      emit("auth-required", { detail });
    }
    throw new ApiError(response.status, detail);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path, opts) => api("GET", path, undefined, opts);

/** Whether a route exists: false on 404/405 (a feature this camera does not have yet). */
export async function probe(path) {
  try {
    await get(path);
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.unavailable) return false;
    throw e;
  }
}
