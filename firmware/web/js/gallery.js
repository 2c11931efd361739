// The gallery: the last shot's review on a tap of its thumbnail (full screen, 100 % zoom,
// swipe to the ones before), thumbnails newest first, DNG/JPEG downloads, delete with
// confirmation, the space left on the card (also "shots left" in the status bar), and how
// many JPEGs the camera is still developing.

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
    this.index = 0;
    this.developing = 0;
    this._watching = false;
    $("#gallery-btn").addEventListener("click", () => this.review());
    $("#gallery-more").addEventListener("click", () => this.load(this.items.length));
    $("#viewer-all").addEventListener("click", () => { $("#viewer").close(); this.open(); });
    $("#viewer-prev").addEventListener("click", () => this.step(1));
    $("#viewer-next").addEventListener("click", () => this.step(-1));
    $("#viewer-zoom").addEventListener("click", () => this.zoom());
    $("#viewer-img").addEventListener("dblclick", (e) => this.zoom(e));
    $("#viewer").addEventListener("keydown", (e) => {
      if (e.key === "ArrowLeft") this.step(1);
      else if (e.key === "ArrowRight") this.step(-1);
    });
    this._swipe($("#viewer-image"));
    closeOnBackdrop($("#viewer"));
    bus.addEventListener("captured", () => this.refresh());
  }

  /** The last shot full screen (the gallery's grid when there is none yet). */
  async review() {
    await this.load(0);
    if (this.items.length) this.view(this.items[0]);
    else this.open();
  }

  /** Older (+1) or newer (−1) photo in the viewer; loads the next page when needed. */
  async step(delta) {
    const shown = this.items.findIndex((i) => i.name === $("#viewer-title").textContent);
    const next = (shown >= 0 ? shown : this.index) + delta;
    if (next >= this.items.length && this.items.length < this.total) await this.load(this.items.length);
    if (next >= 0 && next < this.items.length) this.view(this.items[next]);
  }

  _swipe(area) {
    let start = null;
    area.addEventListener("pointerdown", (e) => {
      if (area.dataset.zoom !== "true" && e.isPrimary) start = { x: e.clientX, y: e.clientY };
    });
    area.addEventListener("pointerup", (e) => {
      if (!start) return;
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      start = null;
      if (Math.abs(dx) > 50 && Math.abs(dx) > 1.5 * Math.abs(dy)) this.step(dx > 0 ? 1 : -1);
    });
    area.addEventListener("pointercancel", () => { start = null; });
  }

  /** Fit ↔ 100 % (one image pixel per screen pixel), centred where tapped; only once the
   * full JPEG is shown (a thumbnail at 100 % would be a stamp). */
  zoom(event) {
    const area = $("#viewer-image");
    const img = $("#viewer-img");
    const on = area.dataset.zoom !== "true";
    if (on && img.dataset.full !== "true") return;
    const rect = img.getBoundingClientRect();
    const fx = event ? (event.clientX - rect.left) / rect.width : 0.5;
    const fy = event ? (event.clientY - rect.top) / rect.height : 0.5;
    area.dataset.zoom = String(on);
    $("#viewer-zoom").setAttribute("aria-pressed", String(on));
    img.style.width = on ? `${img.naturalWidth / (window.devicePixelRatio || 1)}px` : "";
    if (on) {
      area.scrollLeft = fx * img.clientWidth - area.clientWidth / 2;
      area.scrollTop = fy * img.clientHeight - area.clientHeight / 2;
    }
  }

  /** Poll the camera's develop queue while JPEGs are developing; show how many, and why a
   * JPEG is late (a failed develop is tried again by the camera). */
  async watchDeveloping() {
    if (this._watching) return;
    this._watching = true;
    const badge = $("#developing");
    let misses = 0;
    try {
      for (;;) {
        let queue;
        try {
          queue = await get("/api/capture/queue");
          misses = 0;
        } catch {
          if (++misses > 5) break;   // the connection's own banner says why
          await new Promise((r) => setTimeout(r, 2000));
          continue;
        }
        const n = (queue.developing ?? 0) + (queue.buffered ?? 0);
        badge.hidden = n === 0;
        badge.textContent = queue.buffered ? `Saving ${queue.buffered} · developing ${queue.developing}`
          : `Developing ${queue.developing}`;
        badge.title = queue.error ? `A JPEG is late: ${queue.error}` : "";
        if (queue.error) badge.textContent += " · retrying";
        if (n < this.developing) await this._newest();
        this.developing = n;
        if (n === 0) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      this._watching = false;
      if (misses) badge.hidden = true;
    }
  }

  /** The thumbnail's URL changes when its JPEG arrives (the browser caches thumbnails). */
  thumbUrl(item) {
    return `/api/photos/${enc(item.name)}/thumbnail?of=${enc((item.formats || []).join("+"))}`;
  }
  fileUrl(file) { return `/api/photos/${enc(file)}`; }

  async open() {
    openSheet($("#gallery"));
    await Promise.all([this.load(0), get("/api/ui/storage").then((s) => this._space(s), () => null)]);
  }

  /** Refresh the counts and the newest thumbnail on the camera screen (and the grid, if
   * open), and follow the JPEGs still developing. */
  async refresh() {
    try {
      await this._newest();
      if ($("#gallery").open) await this.load(0);
      this.watchDeveloping();
    } catch (e) {
      if (e instanceof ApiError && e.unavailable) this.available = false;
    }
  }

  async _newest() {
    const page = await get(`/api/photos?offset=0&limit=1`);
    this._space(await get("/api/ui/storage").catch(() => ({})));
    const newest = page.items?.[0];
    const thumb = $("#gallery-thumb");
    thumb.hidden = !newest;
    if (newest) thumb.src = `${this.thumbUrl(newest)}&t=${enc(newest.time ?? "")}`;
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
      el("span", { class: "fmt" }, [...(item.formats || []).map((f) => f.toUpperCase()),
        ...(item.developing ? ["JPEG…"] : [])].join("+"))))));
    $("#gallery-more").hidden = this.items.length >= this.total;
  }

  view(item) {
    this.index = Math.max(0, this.items.findIndex((i) => i.name === item.name));
    $("#viewer-prev").disabled = this.index >= this.total - 1;
    $("#viewer-next").disabled = this.index === 0;
    if ($("#viewer-image").dataset.zoom === "true") this.zoom();
    $("#viewer-title").textContent = item.name;
    $("#viewer-badge").hidden = !item.developing;
    const jpeg = (item.files || []).find((f) => /\.jpe?g$/i.test(f));
    const img = $("#viewer-img");
    // The thumbnail at once, then the full JPEG once decoded (12 MP takes a moment on a phone).
    img.src = this.thumbUrl(item);
    img.alt = `Photo ${item.name}`;
    img.dataset.full = "false";
    $("#viewer-zoom").disabled = true;
    if (jpeg) {
      const full = new Image();
      full.src = this.fileUrl(jpeg);
      full.decode().then(() => {
        if ($("#viewer-title").textContent === item.name) {
          img.src = full.src;
          img.dataset.full = "true";
          $("#viewer-zoom").disabled = false;
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
    // On a secure context a phone can take the JPEG into its gallery or another app.
    const jpegFile = (item.files || []).find((f) => /\.jpe?g$/i.test(f));
    if (jpegFile && window.isSecureContext && typeof navigator.canShare === "function") {
      // Fetched now, so the tap shares at once: a share must start within the browser's
      // moment of "user activation", which a 5 MB download over Wi-Fi can outlast.
      const ready = this._shareable(jpegFile);
      actions.unshift(el("button", { type: "button", class: "btn btn-primary",
        onclick: () => this.share(ready) }, "Share"));
    }
    actions.push(el("button", { type: "button", class: "btn btn-danger", onclick: () => this.remove(item) }, "Delete"));
    $("#viewer-actions").replaceChildren(...actions);
    openSheet($("#viewer"));
    if (item.developing) this._whenDeveloped(item);
  }

  /** Hand the JPEG to the phone (Web Share with files): its gallery, messages, editors. */
  async _shareable(file) {
    const response = await fetch(this.fileUrl(file), { credentials: "same-origin" });
    if (!response.ok) throw new Error(`the camera answered ${response.status}`);
    return new File([await response.blob()], file, { type: "image/jpeg" });
  }

  async share(ready) {
    try {
      const photo = await ready;
      if (!navigator.canShare({ files: [photo] })) {
        toast("This browser cannot share photos; use Download JPEG.", "error");
        return;
      }
      await navigator.share({ files: [photo], title: photo.name });
    } catch (e) {
      if (e?.name !== "AbortError") toast(`Could not share: ${e?.message || e}`, "error");
    }
  }

  /** A developing photo in the viewer: the full JPEG as soon as it is there. */
  async _whenDeveloped(item) {
    if (this._awaiting === item.name) return;   // already polling for this one
    this._awaiting = item.name;
    try {
      await this._pollDeveloped(item);
    } finally {
      if (this._awaiting === item.name) this._awaiting = null;
    }
  }

  async _pollDeveloped(item) {
    while ($("#viewer").open && $("#viewer-title").textContent === item.name) {
      await new Promise((r) => setTimeout(r, 1000));
      let fresh;
      try {
        const page = await get(`/api/photos?offset=0&limit=${Math.min(500, this.index + 5)}`);
        fresh = page.items?.find((i) => i.name === item.name);
      } catch {
        return;
      }
      if (!fresh) return;   // deleted meanwhile
      if (!fresh.developing) {
        const at = this.items.findIndex((i) => i.name === item.name);
        if (at >= 0) this.items[at] = fresh;
        if ($("#viewer-title").textContent === item.name) this.view(fresh);
        return;
      }
    }
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
