// One series of a stream, as GET /api/v1/series returns it (uPlot's aligned
// columns), kept current from the live feed's window records.
//
// A window record upserts the cell (start time, dimension value): a new time
// or a new value adds a row or a column, a re-emitted window replaces its
// cell. Records that arrive while the series loads are kept and applied after
// it, so none is lost between the query and the feed.

import {getJson, query} from './api.js';

export class Series {
  // stream, window ('10s'), by (a dimension), measure (as the API takes it:
  // 'count', 'amount' = amount_sum, 'failed_ratio', ...).
  constructor({stream, window, by, measure}) {
    Object.assign(this, {stream, window, by, measure});
    this.field = null;  // the measure as the API resolved it: 'count' or a field name
    this.windowMs = 0;
    this.names = [];    // dimension values, sorted (as the API sorts them)
    this.times = [];    // window starts in seconds, ascending
    this.cols = [];     // cols[i][j]: names[i] at times[j], or null
    this.loaded = false;
    this.pending = [];
  }

  // Loads the series of the last `rangeMs`. Resolves to the API's answer
  // ({ok, status, error} on failure: see api.js).
  async load(rangeMs) {
    this.rangeMs = rangeMs;
    const answer = await getJson('/api/v1/series?' + query({
      stream: this.stream, window: this.window, by: this.by, measure: this.measure,
      from: `-${Math.round(rangeMs / 1000)}s`,
    }));
    if (!answer.ok) return answer;
    const d = answer.data;
    this.field = d.measure;
    this.windowMs = d.window_ms;
    this.window = d.window;
    this.names = d.series;
    this.times = d.data[0];
    this.cols = d.data.slice(1);
    this.loaded = true;
    for (const r of this.pending.splice(0)) this.upsert(r);
    this.trim();
    return answer;
  }

  // Applies a window record (docs/processor.md, `<stream>.windows`). Returns
  // true when it belongs to this series.
  upsert(r) {
    if (r.stream !== this.stream || r.dimension !== this.by) return false;
    if (!this.loaded) {
      if (this.pending.length < 10_000) this.pending.push(r);
      return false;
    }
    if (r.window !== this.window) return false;
    const v = this.field === 'count' ? r.count : r.fields?.[this.field];
    if (typeof v !== 'number') return false;
    const t = r.start_ms / 1000;
    let col = this.names.indexOf(r.value);
    if (col < 0) {
      col = this.names.findIndex((n) => n > r.value);
      if (col < 0) col = this.names.length;
      this.names.splice(col, 0, r.value);
      this.cols.splice(col, 0, new Array(this.times.length).fill(null));
    }
    // Usually the newest time or one just before it: search from the end.
    let j = this.times.length - 1;
    while (j >= 0 && this.times[j] > t) j--;
    if (j < 0 || this.times[j] !== t) {
      j++;
      this.times.splice(j, 0, t);
      for (const c of this.cols) c.splice(j, 0, null);
    }
    this.cols[col][j] = v;
    this.trim();
    return true;
  }

  // Drops windows that started before the range (relative to now).
  trim() {
    const min = (Date.now() - this.rangeMs) / 1000;
    let n = 0;
    while (n < this.times.length && this.times[n] < min) n++;
    if (n === 0) return;
    this.times.splice(0, n);
    for (const c of this.cols) c.splice(0, n);
  }

  // uPlot's data, each value multiplied by `factor`.
  data(factor = 1) {
    const cols = this.cols.map((c) => (factor === 1 ? c : c.map((v) => (v == null ? null : v * factor))));
    return [this.times, ...cols];
  }

  // Sum of each column over the range (a distribution).
  sums() {
    return this.cols.map((c) => c.reduce((s, v) => s + (v ?? 0), 0));
  }

  // Sum over the columns at the newest time (null when empty).
  latest() {
    const j = this.times.length - 1;
    if (j < 0) return null;
    return this.cols.reduce((s, c) => s + (c[j] ?? 0), 0);
  }

  // Values that are not null, in all columns.
  points() {
    let n = 0;
    for (const c of this.cols) for (const v of c) if (v != null) n++;
    return n;
  }
}
