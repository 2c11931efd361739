// mrig's phone UI: wires the modules together and keeps an eye on the camera's health.

import { Account } from "./account.js";
import { bus, get } from "./api.js";
import { Aids } from "./aids.js";
import { ensureSession } from "./auth.js";
import { Capture } from "./capture.js";
import { Controls } from "./controls.js";
import { Gallery } from "./gallery.js";
import { LensPanel } from "./lens.js";
import { LiveView, showHealth } from "./liveview.js";
import { Simulator } from "./simulator.js";
import { $, closeOnBackdrop, openSheet, toast } from "./ui.js";

const STATUS_MS = 2000;

async function main() {
  const live = new LiveView();
  const controls = new Controls();
  const aids = new Aids(live);
  const capture = new Capture(controls);
  const gallery = new Gallery();
  const lens = new LensPanel(controls);
  const account = new Account();
  const simulator = new Simulator();
  for (const id of ["#aids-sheet", "#lens-sheet", "#confirm"]) closeOnBackdrop($(id));
  $("#aids-more").addEventListener("click", () => openSheet($("#aids-sheet")));
  window.mrig = { live, controls, aids, capture, gallery, lens, account, simulator };   // for debugging on the phone

  await ensureSession();
  live.connect();
  live.syncMagnify();
  aids.start();
  await Promise.all([controls.start(), lens.start(), gallery.refresh(), simulator.start()]);
  watchHealth();
  bus.addEventListener("logged-in", () => {
    live.connect();
    controls.poll();
    lens.start();
    gallery.refresh();
  });
  let refreshTimer = 0;
  bus.addEventListener("online", () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => gallery.refresh(), 500);
  });
}

/** Poll the camera's state; the stream reconnects and the banner clears by themselves. */
function watchHealth() {
  let last = null;
  let online = true;
  bus.addEventListener("offline", () => { online = false; showHealth(last, null, false); });
  bus.addEventListener("online", () => { online = true; });
  const tick = async () => {
    try {
      const status = await get("/api/status", { timeoutMs: 4000 });
      online = true;
      showHealth(status.state, status.reason, true);
      showRig(status.rig);
      if (status.state !== last) bus.dispatchEvent(new CustomEvent("camera-state", { detail: status.state }));
      last = status.state;
    } catch (e) {
      if (e.status === 0) showHealth(last, null, false);
    }
    setTimeout(tick, document.hidden ? 10_000 : STATUS_MS);
  };
  tick();
  if (!online) showHealth(last, null, false);
}

/** The rig's power and heat in the status bar, only when something is wrong; a tap says
 * what to do about it. */
function showRig(rig) {
  const item = $("#st-rig");
  const warnings = rig?.warnings ?? [];
  item.hidden = warnings.length === 0;
  if (!warnings.length) return;
  const first = warnings[0];
  const text = warnings.length > 1 ? `${first.text} +${warnings.length - 1}` : first.text;
  if (item.textContent !== text) item.textContent = text;
  item.dataset.level = first.id === "undervoltage" || first.id === "battery" ? "danger" : "warn";
  item.setAttribute("aria-label", warnings.map((w) => w.text).join(", "));
  item.onclick = () => toast(warnings.map((w) => `${w.text}: ${w.advice}`).join(" "), "error", 8000);
}

main().catch((e) => {
  console.error(e);
  toast(e.message || String(e), "error", 0);
});
