// Logging in: GET /api/session says whether this browser has a session (and gives back its
// CSRF token after a reload); the first start asks for the setup code from the camera's log
// and a new password (POST /api/setup); later starts ask for the password (POST /api/login).

import { api, ApiError, bus, get, setCsrfToken } from "./api.js";
import { $ } from "./ui.js";

let pending = null;

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
        const answer = setup
          ? await api("POST", "/api/setup", { password, setup_code: form.elements.code.value.trim() })
          : await api("POST", "/api/login", { password });
        setCsrfToken(answer.csrf_token);
        form.reset();
        dialog.close();
        pending = null;
        bus.dispatchEvent(new Event("logged-in"));
        resolve();
      } catch (e) {
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

bus.addEventListener("auth-required", () => {
  setCsrfToken(null);
  ensureSession().catch(() => askForLogin(false));
});
