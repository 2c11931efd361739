// A camera dial for the touch screen: a horizontal wheel of values that scrolls under the
// thumb (native momentum scrolling, snapping to each value), with − and + buttons for single
// steps. It is an ARIA slider: arrow keys, Page Up/Down, Home/End, and a spoken value.

import { el } from "./ui.js";

const ITEM_PX = 76;

export class Dial {
  /**
   * @param {object} o
   * @param {string} o.label accessible name, e.g. "Shutter speed"
   * @param {{value: any, label: string}[]} o.values
   * @param {(value: any) => void} o.onChange called when the user settles on a value
   */
  constructor({ label, values, onChange, id, steps = null }) {
    this.label = label;
    this.onChange = onChange;
    this.index = 0;
    this._target = null;
    this._settleTimer = 0;
    this._userAt = 0;
    this._dragging = false;
    this.track = el("div", {
      class: "dial-track",
      role: "slider",
      tabindex: "0",
      "aria-label": label,
      id,
      onkeydown: (e) => this._key(e),
      onscroll: () => this._scrolled(),
      ontouchstart: () => { this._dragging = true; },
      ontouchend: () => { this._dragging = false; this._userAt = performance.now(); },
      onscrollend: () => this._settled(),
      onclick: (e) => {
        const item = e.target.closest(".dial-item");
        if (item) this.step(Number(item.dataset.i) - this.index, true);
      },
      onwheel: (e) => {
        if (Math.abs(e.deltaY) > Math.abs(e.deltaX)) {
          e.preventDefault();
          this.track.scrollLeft += e.deltaY;
        }
      },
    });
    this.root = el("div", { class: "dial", hidden: true },
      el("div", { class: "dial-title" }, label),
      el("div", { class: "dial-body" },
        this._stepButton(-1, label, steps?.[0]),
        el("div", { class: "dial-window" }, this.track),
        this._stepButton(1, label, steps?.[1])));
    this.setValues(values);
  }

  /** A step button: "−"/"+" by default, or words where the sign would mislead (a shutter
   * speed's "+" read as "faster" while the list runs to longer times). */
  _stepButton(delta, label, words) {
    return el("button", {
      class: words ? "dial-step dial-step-words" : "dial-step", type: "button", tabindex: "-1",
      "aria-label": `${label}: ${words ? words.toLowerCase() : delta < 0 ? "one step down" : "one step up"}`,
      onclick: () => this.step(delta, true),
    }, words ?? (delta < 0 ? "−" : "+"));
  }

  setValues(values, index = this.index) {
    this.values = values;
    this.track.replaceChildren(...values.map((v, i) =>
      el("div", { class: "dial-item", dataset: { i: String(i) } }, v.label)));
    this.track.setAttribute("aria-valuemin", "0");
    this.track.setAttribute("aria-valuemax", String(values.length - 1));
    this.show(Math.min(index, values.length - 1));
  }

  get value() { return this.values[this.index]?.value; }

  /** Show an index without reporting a change (the camera told us the value). */
  show(index, { smooth = false } = {}) {
    if (index < 0 || this._target != null) return;
    this.index = index;
    this._mark();
    const left = index * ITEM_PX;
    if (Math.abs(this.track.scrollLeft - left) > 1) {
      this._programmatic = true;
      this.track.scrollTo({ left, behavior: smooth ? "smooth" : "instant" });
    }
  }

  /** Move by ``delta`` values and report the new value. */
  step(delta, smooth = false) {
    const index = Math.max(0, Math.min(this.values.length - 1, this.index + delta));
    this._target = null;
    this.show(index, { smooth });
    this._target = index;
    if (!smooth || Math.abs(this.track.scrollLeft - index * ITEM_PX) <= 1) this._commit();
    else this._armSettle();
  }

  _mark() {
    const v = this.values[this.index];
    this.track.setAttribute("aria-valuenow", String(this.index));
    this.track.setAttribute("aria-valuetext", v ? v.label : "");
    for (const item of this.track.children) {
      item.classList.toggle("selected", Number(item.dataset.i) === this.index);
    }
  }

  _scrolled() {
    // A hidden dial's track scrolls to 0 as it collapses: that is no turn of the dial.
    if (this.root.hidden) return;
    if (!this._programmatic && this._target == null) {
      this._userAt = performance.now();
      const i = Math.round(this.track.scrollLeft / ITEM_PX);
      if (i !== this.index && i >= 0 && i < this.values.length) {
        this.index = i;
        this._mark();
      }
    }
    this._armSettle();
  }

  // Browsers without "scrollend" settle after a quiet moment.
  _armSettle() {
    clearTimeout(this._settleTimer);
    this._settleTimer = setTimeout(() => this._settled(), 180);
  }

  _settled() {
    clearTimeout(this._settleTimer);
    if (this.root.hidden && this._target == null) return;  // closed, not turned
    if (this._programmatic && this._target == null) {
      this._programmatic = false;
      return;
    }
    this._programmatic = false;
    if (this._target == null) {
      const i = Math.round(this.track.scrollLeft / ITEM_PX);
      this.index = Math.max(0, Math.min(this.values.length - 1, i));
      this._mark();
      this._target = this.index;
    }
    this._commit();
  }

  _commit() {
    if (this._target == null) return;
    const index = this._target;
    this._target = null;
    this.index = index;
    this._mark();
    if (index !== this._committed) {
      this._committed = index;
      this.onChange?.(this.values[index].value, this.values[index]);
    }
  }

  /** The value the camera has; it is what the next user change is compared with. */
  sync(index) {
    if (this._target != null || this._dragging || performance.now() - this._userAt < 1000) return;
    this._committed = index;
    this.show(index);
  }

  _key(e) {
    const page = Math.max(1, Math.round(this.values.length / 10));
    const moves = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1,
      PageDown: -page, PageUp: page, Home: -Infinity, End: Infinity };
    if (!(e.key in moves)) return;
    e.preventDefault();
    const delta = moves[e.key];
    const to = Number.isFinite(delta) ? this.index + delta : (delta < 0 ? 0 : this.values.length - 1);
    this.step(to - this.index);
  }
}
