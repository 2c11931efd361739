// The account: who is logged in (this phone, others: end them), log out, change the password.

import { api, bus, get, setCsrfToken } from "./api.js";
import { $, closeOnBackdrop, el, openSheet, toast } from "./ui.js";

export class Account {
  constructor() {
    const sheet = $("#account-sheet");
    closeOnBackdrop(sheet);
    $("#account-open").addEventListener("click", () => this.open());
    $("#account-done").addEventListener("click", () => sheet.close());
    $("#logout").addEventListener("click", () => this.logOut());
    $("#password-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.changePassword();
    });
  }

  async open() {
    $("#aids-sheet").close();
    openSheet($("#account-sheet"));
    await this.refresh();
  }

  async refresh() {
    let sessions;
    try {
      sessions = await get("/api/sessions");
    } catch (e) {
      toast(e.message, "error");
      return;
    }
    $("#session-list").replaceChildren(...sessions.map((s) => el("li", { class: "session" },
      el("div", {},
        el("b", {}, s.this_device ? `This phone · ${s.device}` : s.device),
        el("small", {}, `${s.client || "unknown address"} · logged in ${when(s.logged_in_unix)}, `
          + `last used ${when(s.last_used_unix)}`)),
      s.this_device ? null : el("button", {
        type: "button", class: "btn", "aria-label": `Log out ${s.device} (${s.client})`,
        onclick: () => this.end(s),
      }, "Log out"))));
  }

  async end(session) {
    try {
      await api("DELETE", `/api/sessions/${encodeURIComponent(session.id)}`);
      toast(`${session.device} is logged out`, "ok");
    } catch (e) {
      toast(e.message, "error");
    }
    await this.refresh();
  }

  async logOut() {
    try {
      await api("POST", "/api/logout");
    } catch (e) {
      if (e.status !== 401) { toast(e.message, "error"); return; }
    }
    $("#account-sheet").close();
    setCsrfToken(null);
    bus.dispatchEvent(new CustomEvent("auth-required", { detail: null }));
  }

  async changePassword() {
    const form = $("#password-form");
    const error = $("#password-error");
    const { current, new: fresh, repeat } = form.elements;
    error.textContent = "";
    if (fresh.value !== repeat.value) {
      error.textContent = "The two new passwords differ.";
      return;
    }
    $("#password-submit").disabled = true;
    try {
      const answer = await api("POST", "/api/password",
        { current_password: current.value, new_password: fresh.value });
      form.reset();
      const others = answer.other_sessions_ended;
      toast(`Password changed${others ? `; ${others} other device${others === 1 ? "" : "s"} logged out` : ""}.`, "ok", 5000);
      await this.refresh();
    } catch (e) {
      error.textContent = e.status === 403 ? "The current password is wrong." : e.message;
    } finally {
      $("#password-submit").disabled = false;
    }
  }
}

/** "today 14:05", "3 Dec 09:12": when, in the phone's own time. */
function when(unix) {
  const d = new Date(unix * 1000);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return new Date().toDateString() === d.toDateString() ? `today ${time}`
    : `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}
