// Small DOM helpers shared by the modules: element builder, messages, sheets, confirmation.

/** ``el("button", {class: "x", onclick}, "text", child)`` → element. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

let toastTimer = 0;
/** A short message over the viewfinder; ``kind`` is "info", "error" or "ok". */
export function toast(message, kind = "info", ms = 3500) {
  const box = $("#toast");
  box.textContent = message;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(toastTimer);
  if (ms) toastTimer = setTimeout(() => { box.hidden = true; }, ms);
}

/** The persistent banner for conditions that last (camera reconnecting, Wi-Fi lost). */
export function banner(message) {
  const box = $("#banner");
  box.hidden = !message;
  box.textContent = message || "";
}

/** Open a <dialog> sheet; returns a promise of its close value. */
export function openSheet(dialog) {
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
  });
}

/** Tapping the dimmed backdrop closes a sheet, as on a phone. */
export function closeOnBackdrop(dialog) {
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close("cancel");
  });
}

/** Ask before something that cannot be undone. Resolves true when confirmed. */
export async function confirmAction(message, actionLabel) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = message;
  $("#confirm-ok").textContent = actionLabel;
  dialog.returnValue = "";
  return (await openSheet(dialog)) === "ok";
}

/** Persisted UI preferences (overlay toggles, drive mode). */
export const prefs = {
  get(key, fallback) {
    try {
      const v = localStorage.getItem(`mrig.${key}`);
      return v == null ? fallback : JSON.parse(v);
    } catch { return fallback; }
  },
  set(key, value) {
    try { localStorage.setItem(`mrig.${key}`, JSON.stringify(value)); } catch { /* private mode */ }
  },
};
