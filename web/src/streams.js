// A section of the page for one stream of the store (finance, cars): key
// figures, time charts, distributions and the newest raw events, loaded from
// /api/v1/series and /api/v1/recent and kept current from the live feed.
// What each section shows is described by the specs at the end of this file.

import {getJson, isTransient, query} from './api.js';
import {BarChart, TimeChart} from './charts.js';
import {fill, h, segmented} from './dom.js';
import {clock, num, percent} from './format.js';
import {Series} from './series.js';

const RECENT_ROWS = 20;
const RETRY_MS = 3000;

export class StreamPanel {
  // root: the <section> to fill. spec: FINANCE or CARS below. settings: the
  // page's {window: '10s', rangeMs}, read at each reload.
  constructor(root, spec, settings) {
    Object.assign(this, {root, spec, settings});
    this.info = null;         // the stream as /api/v1/streams describes it
    this.split = spec.splits[0][0];
    this.views = [];
    this.series = new Map();  // 'by|measure' -> Series, shared by the views that show it
    this.recent = [];
    this.generation = 0;      // bumped by each reload: older answers are dropped
    this.frame = 0;
    this.retry = 0;
    this.controls = h('div', {class: 'controls'});
    this.note = h('p', {class: 'waiting'}, 'waiting for data…');
    this.body = h('div', {class: 'panel-body', hidden: true});
    root.append(
      h('div', {class: 'section-head'},
        h('h2', {}, spec.title), h('span', {class: 'hint'}, `stream ${spec.stream}`), this.controls),
      this.note, this.body);
  }

  // The stream's description from /api/v1/streams, or undefined while the
  // store has none (the processor has not emitted a window yet).
  setInfo(info) {
    if (!info) {
      if (!this.info) this.wait(`waiting for data: no "${this.spec.stream}" windows in the store yet`);
      return;
    }
    if (this.info) return;
    this.info = info;
    this.build();
    this.reload();
  }

  wait(text) {
    this.note.textContent = text;
    this.note.hidden = false;
  }

  // [measure, unit] of the first of `choices` the stream has, or undefined.
  measureOf(choices) {
    return choices.find(([m]) => this.info.measures.includes(m));
  }

  build() {
    const {spec, info} = this;
    const splits = spec.splits.filter(([d]) => d === 'total' || info.dimensions.includes(d));
    fill(this.controls, h('span', {class: 'label'}, 'split by'),
         segmented('split by', splits, this.split, (v) => {
           this.split = v;
           this.reload();
         }));
    const kpis = h('div', {class: 'kpis'});
    const grid = h('div', {class: 'grid'});
    for (const k of spec.kpis) {
      const m = this.measureOf(k.measures);
      if (!m) continue;
      const value = h('div', {class: 'kpi-value'}, '–');
      kpis.append(h('div', {class: 'kpi'}, value, h('div', {class: 'kpi-label'}, k.label(m[1]))));
      this.views.push({kind: 'kpi', by: () => 'total', measure: m[0], value, spec: k});
    }
    for (const c of spec.charts) {
      const m = this.measureOf(c.measures);
      const dimension = c.by ?? 'total';
      if (!m || (dimension !== 'total' && !info.dimensions.includes(dimension))) continue;
      const chart = h('div', {class: 'chart', 'data-chart': `${spec.stream}-${c.id}`});
      const empty = h('p', {class: 'empty'}, 'waiting for the first window…');
      const subtitle = h('small', {});
      grid.append(h('div', {class: `card ${c.wide ? 'wide' : ''}`},
                    h('h3', {}, c.title, ' ', subtitle), chart, empty));
      const unit = m[1];
      const view = {kind: c.kind, spec: c, measure: m[0], unit, chart: null, empty, subtitle, el: chart,
                    by: () => (c.split ? this.split : dimension)};
      view.chart = c.kind === 'bars'
        ? new BarChart(chart, {unit})
        : new TimeChart(chart, {unit, format: c.format ?? num});
      this.views.push(view);
    }
    if (spec.recent) {
      this.table = h('tbody');
      const head = h('tr', {}, spec.recent.columns.map(([label]) => h('th', {}, label)));
      this.tableNote = h('p', {class: 'empty'}, 'waiting for events…');
      grid.append(h('div', {class: 'card wide'},
                    h('h3', {}, spec.recent.title, ' ', h('small', {}, 'newest first')),
                    h('div', {class: 'table-scroll'},
                      h('table', {class: 'recent', 'data-table': `${spec.stream}-recent`},
                        h('thead', {}, head), this.table)),
                    this.tableNote));
    }
    this.body.append(kpis, grid);
  }

  // The window to show: the page's choice when the stream has it, else its first.
  windowName() {
    const names = this.info.windows.map((w) => w.window);
    return names.includes(this.settings.window) ? this.settings.window : names[0];
  }

  // (Re)loads every view from the API: after the stream appears, when the
  // window, range or split changes, and after the live feed reconnects.
  async reload() {
    if (!this.info) return;
    clearTimeout(this.retry);
    const generation = ++this.generation;
    const window = this.windowName();
    this.series = new Map();
    for (const v of this.views) {
      const key = `${v.by()}|${v.measure}`;
      if (!this.series.has(key)) {
        this.series.set(key, new Series({stream: this.spec.stream, window, by: v.by(), measure: v.measure}));
      }
      v.series = this.series.get(key);
    }
    const answers = await Promise.all([...this.series.values()].map((s) => s.load(this.settings.rangeMs)));
    if (generation !== this.generation) return;
    const failed = answers.find((a) => !a.ok);
    if (failed && isTransient(failed)) {
      this.wait(failed.status === 0 ? 'server unreachable: retrying…' : `waiting for data: ${failed.error}`);
      this.retry = setTimeout(() => this.reload(), RETRY_MS);
      return;
    }
    this.note.hidden = !failed;
    if (failed) this.note.textContent = `could not load: ${failed.error}`;
    this.body.hidden = false;
    this.render();
    this.loadRecent(generation);
  }

  async loadRecent(generation) {
    if (!this.spec.recent) return;
    const answer = await getJson('/api/v1/recent?' + query({stream: this.spec.stream, limit: RECENT_ROWS}));
    if (generation !== this.generation || !answer.ok) return;
    this.recent = [];
    this.addRecent([...answer.data.events].reverse());
  }

  // A window record from the live feed.
  onWindow(record) {
    if (record.stream !== this.spec.stream || !this.info) return;
    let changed = false;
    for (const s of this.series.values()) changed = s.upsert(record) || changed;
    if (changed && !this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  // The live feed's newest raw events of a topic ({topic, events}, newest last).
  onRecent(data) {
    if (!this.info || data.topic !== this.info.topic || !this.spec.recent) return;
    this.addRecent(data.events);
  }

  // Adds events (oldest first) to the table of the newest.
  addRecent(events) {
    const id = this.spec.recent.id;
    const seen = new Set(this.recent.map((e) => e[id]));
    const fresh = events.map(eventOf).filter((e) => e && !seen.has(e[id]));
    this.recent = [...fresh.reverse(), ...this.recent].slice(0, RECENT_ROWS);
    fill(this.table, this.recent.map((e) =>
      h('tr', {}, this.spec.recent.columns.map(([, cell]) => h('td', {}, cell(e))))));
    this.tableNote.hidden = this.recent.length > 0;
  }

  render() {
    const windowMs = [...this.series.values()][0]?.windowMs || 1000;
    const windows = windowMs >= 60_000 ? `${windowMs / 60_000}-min windows` : `${windowMs / 1000}-s windows`;
    for (const v of this.views) {
      const s = v.series;
      if (!s?.loaded) continue;
      if (v.kind === 'kpi') {
        v.value.textContent = v.spec.value(s);
        continue;
      }
      const by = s.by;
      const names = by === 'total' ? [v.spec.total ?? v.unit] : s.names;
      if (v.kind === 'bars') {
        const order = orderOf(s.names, v.spec.order);
        const sums = s.sums();
        v.chart.set(order.map((i) => s.names[i]), order.map((i) => sums[i]));
        v.subtitle.textContent = `${this.rangeLabel()}`;
      } else {
        const factor = v.spec.perSecond ? 1000 / s.windowMs : (v.spec.scale ?? 1);
        v.chart.set(names, s.data(factor));
        v.subtitle.textContent = [by === 'total' ? '' : `by ${label(by)}`, v.spec.perSecond ? 'per second' : '', windows]
          .filter(Boolean).join(' · ');
      }
      v.empty.hidden = s.points() > 0;
    }
  }

  rangeLabel() {
    const ms = this.settings.rangeMs;
    return ms >= 3_600_000 ? `last ${ms / 3_600_000} h` : `last ${ms / 60_000} min`;
  }
}

// The event of a recent row ({body: "<json>"}, from /api/v1/recent) or of
// the live feed (the event itself, or {body: {...}}).
function eventOf(e) {
  if (typeof e?.body === 'string') {
    try {
      return JSON.parse(e.body);
    } catch {
      return null;
    }
  }
  if (e?.body && typeof e.body === 'object') return e.body;
  return e ?? null;
}

// Indices of `names` in display order: by name, but bands like "<18" first
// and numeric bands by their number ("66+" after "56-65").
function orderOf(names, order) {
  const idx = names.map((_, i) => i);
  if (order !== 'band') return idx;
  const key = (n) => (n.startsWith('<') ? -1 : parseFloat(n) || 0);
  return idx.sort((a, b) => key(names[a]) - key(names[b]));
}

const LABELS = {transaction_type: 'type', transaction_status: 'status', transaction_channel: 'channel',
                payment_method: 'payment method', location_city: 'city', location_country: 'country'};
const label = (dimension) => LABELS[dimension] ?? dimension.replaceAll('_', ' ');

const money = (amount, currency) => (amount == null ? '–' : `${num(amount)} ${currency ?? ''}`);
const timeOf = (iso) => clock(Date.parse(iso));
const perSecond = (s) => (s.latest() == null ? '–' : num(s.latest() / (s.windowMs / 1000)));

// ------------------------------------------------------------------ specs
// kpis: {label(unit), measures: [[measure, unit], ...] (the first the stream
//   has), value(series by total)}.
// charts: {id, kind: 'time'|'bars', title, measures, by (a dimension) or
//   split: true (the section's split), perSecond (count or sum / window
//   length), scale, format, order: 'band'}.
// recent: {title, id (dedup field), columns: [[label, event => text]]}.

export const FINANCE = {
  stream: 'finance',
  title: 'Finance',
  splits: [['total'], ['transaction_type', 'type'], ['transaction_status', 'status'],
           ['transaction_channel', 'channel'], ['currency']],
  kpis: [
    {label: () => 'transactions/s', measures: [['count']], value: perSecond},
    {label: (unit) => unit, measures: [['amount_usd', 'amount in USD/s'], ['amount', 'amount/s']], value: perSecond},
    {label: () => 'failed', measures: [['failed_ratio']],
     value: (s) => (s.latest() == null ? '–' : percent(s.latest() * 100))},
    {label: () => 'transactions in range', measures: [['count']], value: (s) => num(s.sums()[0] ?? 0)},
  ],
  charts: [
    {id: 'rate', kind: 'time', title: 'Transactions', measures: [['count', 'tx/s']], split: true,
     perSecond: true, total: 'transactions'},
    {id: 'amount', kind: 'time', title: 'Amount', measures: [['amount_usd', 'USD/s'], ['amount', 'amount/s']],
     split: true, perSecond: true, total: 'amount'},
    {id: 'failed', kind: 'time', title: 'Failed ratio', measures: [['failed_ratio', '%']], scale: 100,
     format: percent, total: 'failed'},
    {id: 'city', kind: 'bars', title: 'By city', measures: [['count', 'transactions']], by: 'location_city'},
    {id: 'country', kind: 'bars', title: 'By country', measures: [['count', 'transactions']], by: 'location_country'},
    {id: 'age', kind: 'bars', title: 'Customer age', measures: [['count', 'transactions']],
     by: 'customer_age_band', order: 'band'},
    {id: 'gender', kind: 'bars', title: 'Customer gender', measures: [['count', 'transactions']],
     by: 'customer_gender'},
  ],
  recent: {
    title: 'Recent transactions',
    id: 'transaction_id',
    columns: [
      ['time', (e) => timeOf(e.transaction_date)],
      ['id', (e) => e.transaction_id],
      ['type', (e) => e.transaction_type],
      ['amount', (e) => money(e.amount, e.currency)],
      ['channel', (e) => e.transaction_channel],
      ['status', (e) => e.transaction_status],
      ['city', (e) => e.location_city],
      ['customer', (e) => `${e.customer_gender ?? ''} ${e.customer_age ?? ''}`],
    ],
  },
};

export const CARS = {
  stream: 'cars',
  title: 'Cars',
  splits: [['total'], ['brand'], ['payment_method', 'payment'], ['status']],
  kpis: [
    {label: () => 'sales/s', measures: [['count']], value: perSecond},
    {label: () => 'sales in range', measures: [['count']], value: (s) => num(s.sums()[0] ?? 0)},
    {label: (unit) => `average price (${unit})`, measures: [['price_usd_avg', 'USD'], ['price_avg', 'price']],
     value: (s) => num(s.latest())},
  ],
  charts: [
    {id: 'count', kind: 'time', title: 'Sales', measures: [['count', 'sales/s']], split: true,
     perSecond: true, total: 'sales'},
    {id: 'price', kind: 'time', title: 'Average price', measures: [['price_usd_avg', 'USD'], ['price_avg', 'price']],
     split: true, total: 'average price'},
    {id: 'brand', kind: 'bars', title: 'By brand', measures: [['count', 'sales']], by: 'brand'},
    {id: 'payment', kind: 'bars', title: 'By payment method', measures: [['count', 'sales']], by: 'payment_method'},
    {id: 'status', kind: 'bars', title: 'By status', measures: [['count', 'sales']], by: 'status'},
  ],
  recent: {
    title: 'Recent sales',
    id: 'transaction_id',
    columns: [
      ['time', (e) => timeOf(e.timestamp)],
      ['brand', (e) => `${e.brand ?? ''} ${e.model ?? ''}`],
      ['year', (e) => e.year],
      ['price', (e) => money(e.price, e.currency)],
      ['payment', (e) => e.payment_method],
      ['status', (e) => e.status],
      ['city', (e) => e.city],
    ],
  },
};
