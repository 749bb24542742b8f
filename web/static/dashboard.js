// rollcall dashboard helpers: the pure logic behind /dashboard, tested with
// node --test web/static/ (dashboard.test.mjs). No dependencies.

/** Counters of /dashboard/events snapshots that are shown as per-second rates. */
export const RATE_FIELDS = ["messages_in", "messages_out", "publishes", "errors"];

/**
 * Per-second rates between two stats snapshots (the "stats" object of a
 * dashboard snapshot). Returns null when there is no earlier snapshot, when
 * no time passed, or when the server restarted in between (counters began
 * again), so that a rate is never made of unrelated numbers.
 * @param {object|null} prev
 * @param {object} cur
 * @returns {Record<string, number>|null}
 */
export function rates(prev, cur) {
  if (!prev || !cur || prev.started !== cur.started) return null;
  const dt = cur.uptime_seconds - prev.uptime_seconds;
  if (!(dt > 0)) return null;
  const out = {};
  for (const f of RATE_FIELDS) out[f] = Math.max(0, (cur[f] - prev[f]) / dt);
  return out;
}

/**
 * A short human number: 0, 7, 12.5, 1.2k, 3.4M.
 * @param {number} n
 */
export function formatNumber(n) {
  if (!Number.isFinite(n)) return "–";
  const a = Math.abs(n);
  if (a >= 1e6) return trim(n / 1e6) + "M";
  if (a >= 1e3) return trim(n / 1e3) + "k";
  if (a > 0 && a < 10 && !Number.isInteger(n)) return trim(n);
  return String(Math.round(n));
}

const trim = (x) => (Math.round(x * 10) / 10).toString();

/**
 * A duration in seconds as its two largest units: "42s", "5m 3s", "2h 7m", "3d 4h".
 * @param {number} seconds
 */
export function formatDuration(seconds) {
  let s = Math.max(0, Math.floor(seconds));
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts = [];
  for (const [name, size] of units) {
    if (s >= size || (name === "s" && parts.length === 0)) {
      parts.push(Math.floor(s / size) + name);
      s %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

/**
 * SSEParser reads a text/event-stream in chunks as they arrive and returns
 * the complete events ({event, data}) in each. Lines may end in \n, \r\n or
 * \r; a chunk may end anywhere, even inside a line.
 */
export class SSEParser {
  #buf = "";
  #event = "";
  #data = [];

  /**
   * @param {string} chunk
   * @returns {{event: string, data: string}[]}
   */
  push(chunk) {
    this.#buf += chunk;
    const out = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.#buf);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (!m || (m[0] === "\r" && m.index === this.#buf.length - 1)) break;
      const line = this.#buf.slice(0, m.index);
      this.#buf = this.#buf.slice(m.index + m[0].length);
      this.#line(line, out);
    }
    return out;
  }

  #line(line, out) {
    if (line === "") {
      if (this.#data.length) out.push({ event: this.#event || "message", data: this.#data.join("\n") });
      this.#event = "";
      this.#data = [];
      return;
    }
    if (line.startsWith(":")) return; // a comment
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.#event = value;
    else if (field === "data") this.#data.push(value);
  }
}

/**
 * History keeps the last `size` values of a series, for a sparkline.
 */
export class History {
  /** @param {number} size */
  constructor(size) {
    this.size = size;
    /** @type {number[]} */
    this.values = [];
  }

  /** @param {number} v */
  push(v) {
    this.values.push(v);
    if (this.values.length > this.size) this.values.shift();
  }

  /**
   * The SVG polyline points of the series in a width×height box, the
   * newest value at the right edge, 0 at the bottom and max at the top
   * (by default the series' maximum; at least 1). Give several series the
   * same max to draw them to one scale.
   * @param {number} width
   * @param {number} height
   * @param {number} [max]
   */
  points(width, height, max = Math.max(...this.values)) {
    max = Math.max(1, max);
    const step = width / Math.max(1, this.size - 1);
    const start = width - step * (this.values.length - 1);
    return this.values
      .map((v, i) => `${trim(start + i * step)},${trim(height - (v / max) * height)}`)
      .join(" ");
  }
}
