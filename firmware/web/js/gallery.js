// The gallery: thumbnails newest first, a full view, DNG/JPEG downloads, delete with
// confirmation, and the space left on the card (also "shots left" in the status bar).

import { api, ApiError, bus, get } from "./api.js";
import { bytesLabel, shutterLabel } from "./exposure.js";
import { $, closeOnBackdrop, confirmAction, el, openSheet, toast } from "./ui.js";

const PAGE = 30;
const enc = encodeURIComponent;

export class Gallery {
  constructor() {
    this.items = [];
    this.total = 0;
    this.available = true;
    this.space = null;
    $("#gallery-btn").addEventListener("click", () => this.open());
    $("#gallery-more").addEventListener("click", () => this.load(this.items.length));
    closeOnBackdrop($("#viewer"));
    bus.addEventListener("captured", () => this.refresh());
  }

  thumbUrl(item) { return `/api/photos/${enc(item.name)}/thumbnail`; }
  fileUrl(file) { return `/api/photos/${enc(file)}`; }

  async open() {
    openSheet($("#gallery"));
    await Promise.all([this.load(0), get("/api/ui/storage").then((s) => this._space(s), () => null)]);
  }

  /** Refresh the counts and the newest thumbnail on the camera screen. */
  async refresh() {
    try {
      const page = await get(`/api/photos?offset=0&limit=1`);
      this._space(await get("/api/ui/storage").catch(() => ({})));
      const newest = page.items?.[0];
      const thumb = $("#gallery-thumb");
      thumb.hidden = !newest;
      if (newest) thumb.src = `${this.thumbUrl(newest)}?t=${enc(newest.time ?? "")}`;
      if ($("#gallery").open) await this.load(0);
    } catch (e) {
      if (e instanceof ApiError && e.unavailable) this.available = false;
    }
  }

  async load(offset) {
    const note = $("#gallery-note");
    try {
      const page = await get(`/api/photos?offset=${offset}&limit=${PAGE}`);
      this.items = offset ? [...this.items, ...page.items] : page.items;
      this.total = page.total ?? this.items.length;
      note.hidden = this.items.length > 0;
      note.textContent = "No photos yet. Press Capture to take one.";
    } catch (e) {
      note.hidden = false;
      note.textContent = e instanceof ApiError && e.unavailable ? "This camera has no gallery yet." : e.message;
      this.items = [];
    }
    this._render();
  }

  /** Space left, from GET /api/ui/storage. */
  _space(space) {
    const free = space.free_bytes;
    const left = space.shots_left;
    this.space = { free, left };
    $("#gallery-space").textContent = free != null ? `${bytesLabel(free)} free${left != null ? ` · ~${left} shots` : ""}` : "";
    const shots = $("#st-shots");
    shots.textContent = left != null ? `[${left}]` : free != null ? bytesLabel(free) : "—";
    shots.title = left != null ? "Shots left on the card" : "Free space on the card";
  }

  _render() {
    const list = $("#thumbs");
    list.replaceChildren(...this.items.map((item) => el("li", {},
      el("button", { type: "button", class: "thumb", "aria-label": `Photo ${item.name}`,
        onclick: () => this.view(item) },
      el("img", { src: this.thumbUrl(item), alt: "", loading: "lazy", decoding: "async" }),
      el("span", { class: "fmt" }, (item.formats || []).map((f) => f.toUpperCase()).join("+"))))));
    $("#gallery-more").hidden = this.items.length >= this.total;
  }

  view(item) {
    $("#viewer-title").textContent = item.name;
    const jpeg = (item.files || []).find((f) => /\.jpe?g$/i.test(f));
    const img = $("#viewer-img");
    // The thumbnail at once, then the full JPEG once decoded (12 MP takes a moment on a phone).
    img.src = this.thumbUrl(item);
    img.alt = `Photo ${item.name}`;
    img.dataset.full = "false";
    if (jpeg) {
      const full = new Image();
      full.src = this.fileUrl(jpeg);
      full.decode().then(() => {
        if ($("#viewer-title").textContent === item.name) {
          img.src = full.src;
          img.dataset.full = "true";
        }
      }, () => null);
    }
    const x = item.exposure || {};
    const lens = item.lens || {};
    const bits = [
      x.exposure_time_us ? shutterLabel(x.exposure_time_us) : x.exposure_time_s ? shutterLabel(x.exposure_time_s * 1e6) : null,
      x.iso ? `ISO ${x.iso}` : x.analogue_gain ? `ISO ${Math.round(x.analogue_gain * 100)}` : null,
      lens.name || lens.model || null,
      lens.f_number ? `f/${lens.f_number}` : null,
      item.time ? new Date(item.time).toLocaleString() : null,
      item.size ? bytesLabel(item.size) : null,
    ].filter(Boolean);
    $("#viewer-info").textContent = bits.join(" · ");
    const actions = (item.files || []).map((file) => {
      const kind = file.split(".").pop().toUpperCase().replace("JPG", "JPEG");
      return el("a", { class: "btn", href: this.fileUrl(file), download: file }, `Download ${kind}`);
    });
    actions.push(el("button", { type: "button", class: "btn btn-danger", onclick: () => this.remove(item) }, "Delete"));
    $("#viewer-actions").replaceChildren(...actions);
    openSheet($("#viewer"));
  }

  async remove(item) {
    const files = (item.files || []).map((f) => f.split(".").pop().toUpperCase()).join(" and ");
    if (!(await confirmAction(`Delete ${item.name}${files ? ` (${files})` : ""}? This cannot be undone.`, "Delete"))) return;
    try {
      await api("DELETE", `/api/photos/${enc(item.name)}`);
      $("#viewer").close();
      toast("Photo deleted", "ok", 1500);
      await this.load(0);
      await this.refresh();
    } catch (e) {
      toast(e.message, "error");
    }
  }
}
