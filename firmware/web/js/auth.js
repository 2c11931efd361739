// Logging in: GET /api/session says whether this browser has a session (and gives back its
// CSRF token after a reload); the first start asks for the setup code from the camera's log,
// or a 3-second hold of the camera's shutter button (the claim this page armed), and a new
// password (POST /api/setup); later starts ask for the password (POST /api/login).

import { api, ApiError, bus, get, setCsrfToken } from "./api.js";
import { $ } from "./ui.js";

let pending = null;
/** The shutter-button claim this page armed (only this page can use the press). */
let buttonClaim = null;

/** Resolves once this browser may use the camera (at once when the camera has no login). */
export async function ensureSession() {
  let info;
  try {
    info = await get("/api/session");
  } catch (e) {
    if (e instanceof ApiError && e.unavailable) return;   // a camera without login
    throw e;
  }
  if (info.authenticated) {
    setCsrfToken(info.csrf_token);
    return;
  }
  await askForLogin(!info.password_set);
}

/** Show the login (or first-time setup) dialog until it succeeds. */
export function askForLogin(setup = false) {
  if (pending) return pending;
  const dialog = $("#login");
  const form = $("#login-form");
  $("#login-title").textContent = setup ? "Set up the camera" : "Log in to the camera";
  $("#login-note").textContent = setup
    ? "Choose a password (8 characters or more). The setup code is printed in the camera's log."
    : "";
  $("#login-code-row").hidden = !setup;
  $("#login-confirm-row").hidden = !setup;
  form.elements.code.required = setup;
  form.elements.password.autocomplete = setup ? "new-password" : "current-password";
  $("#login-submit").textContent = setup ? "Set password" : "Log in";
  $("#login-error").textContent = "";
  $("#login-button-setup").hidden = true;
  $("#login-button-note").hidden = true;
  if (setup) offerButton();
  dialog.addEventListener("cancel", (e) => e.preventDefault());   // no way around the login
  pending = new Promise((resolve) => {
    form.onsubmit = async (event) => {
      event.preventDefault();
      const password = form.elements.password.value;
      if (setup && password !== form.elements.password2.value) {
        $("#login-error").textContent = "The two passwords differ.";
        return;
      }
      $("#login-submit").disabled = true;
      try {
        const proof = buttonClaim?.pressed ? { button_claim: buttonClaim.claim }
          : { setup_code: form.elements.code.value.trim() };
        const answer = setup
          ? await api("POST", "/api/setup", { password, ...proof })
          : await api("POST", "/api/login", { password });
        buttonClaim = null;
        setCsrfToken(answer.csrf_token);
        form.reset();
        dialog.close();
        pending = null;
        bus.dispatchEvent(new Event("logged-in"));
        resolve();
      } catch (e) {
        if (e.status === 403 && setup && buttonClaim?.pressed) {
          forgetButton("The shutter-button wait ended before the password was set: start "
            + "again, or use the setup code from the camera's log.");
          return;
        }
        $("#login-error").textContent = e.status === 401 ? "Wrong password."
          : e.status === 403 && setup ? "Wrong setup code — see the camera's log."
            : e.status === 409 ? "A password is already set; log in instead." : e.message;
        if (e.status === 409) { pending = null; dialog.close(); resolve(askForLogin(false)); }
      } finally {
        $("#login-submit").disabled = false;
      }
    };
  });
  if (!dialog.open) dialog.showModal();
  return pending;
}

/** On a camera with a shutter button: offer it instead of the code from the log. */
async function offerButton() {
  let info;
  try {
    info = await get("/api/setup");
  } catch {
    return;
  }
  if (!info.button || info.button === "unavailable") return;
  const offer = $("#login-button-setup");
  offer.hidden = false;
  offer.onclick = () => waitForButton(Math.round(info.button_hold_s ?? 3));
}

/** Arm the claim, ask for the hold, and follow it until pressed, cancelled or expired. */
async function waitForButton(holdS) {
  const note = $("#login-button-note");
  const offer = $("#login-button-setup");
  note.hidden = false;
  $("#login-error").textContent = "";
  offer.disabled = true;
  try {
    const claim = await api("POST", "/api/setup/button");
    buttonClaim = { claim: claim.claim, pressed: false };
  } catch (e) {
    note.hidden = true;
    offer.disabled = false;
    $("#login-error").textContent = e.message;
    return;
  }
  const mine = buttonClaim;
  note.textContent = `Hold the camera's shutter button now, for ${holdS} seconds.`;
  // This page's own claim, never the camera's state: only a press for this claim counts.
  while (buttonClaim === mine) {
    await new Promise((r) => setTimeout(r, 500));
    let state;
    try {
      state = (await api("POST", "/api/setup/button/status", { claim: mine.claim })).state;
    } catch {
      continue;
    }
    if (state === "pressed") {
      mine.pressed = true;
      $("#login-form").elements.code.required = false;
      $("#login-code-row").hidden = true;
      note.textContent = "Shutter button held: now choose the password.";
      return;
    }
    if (state !== "waiting") {
      forgetButton("The wait for the shutter button ended (two minutes passed): start again, "
        + "or use the setup code from the camera's log.");
      return;
    }
  }
}

/** Back to the setup code: the claim is gone (refused, expired or used). */
function forgetButton(message) {
  buttonClaim = null;
  $("#login-button-note").textContent = "";
  $("#login-button-note").hidden = true;
  $("#login-button-setup").disabled = false;
  $("#login-code-row").hidden = false;
  $("#login-form").elements.code.required = true;
  $("#login-error").textContent = message;
}

bus.addEventListener("auth-required", () => {
  setCsrfToken(null);
  ensureSession().catch(() => askForLogin(false));
});
