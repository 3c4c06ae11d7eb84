// The pipeline section: events/s per topic (a chart of the stats the live
// feed sends every 2 s), consumer lag, rejects by reason, and what the
// archive and InfluxDB sinks have written (from the live feed's metrics).

import {getJson, isTransient} from './api.js';
import {TimeChart} from './charts.js';
import {fill, h} from './dom.js';
import {bytes, duration, num} from './format.js';

const HISTORY = 1800;  // stats points kept for the chart (an hour at one per 2 s)
const RETRY_MS = 3000;

// Sum of a metric's values over its label sets (null when absent).
function metricSum(metrics, name) {
  const found = metrics.filter((m) => m.name === name);
  return found.length ? found.reduce((s, m) => s + m.value, 0) : null;
}

function metricMax(metrics, name) {
  const found = metrics.filter((m) => m.name === name);
  return found.length ? Math.max(...found.map((m) => m.value)) : null;
}

export class PipelinePanel {
  constructor(root) {
    this.history = [];  // [{t (s), rates: {topic: events/s}}], oldest first
    this.retry = 0;
    this.note = h('p', {class: 'waiting'}, 'waiting for data…');
    this.time = h('span', {class: 'hint'});
    this.kpis = h('div', {class: 'kpis'});
    const chart = h('div', {class: 'chart', 'data-chart': 'pipeline-rates'});
    this.empty = h('p', {class: 'empty'}, 'waiting for two stats snapshots…');
    this.chart = new TimeChart(chart, {unit: 'events/s'});
    this.topics = h('tbody');
    this.lag = h('tbody');
    this.rejects = h('tbody');
    this.lagSource = h('small', {});
    const table = (head, body) =>
      h('div', {class: 'table-scroll'}, h('table', {}, h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))), body));
    root.append(
      h('div', {class: 'section-head'}, h('h2', {}, 'Pipeline'), this.time),
      this.note, this.kpis,
      h('div', {class: 'grid'},
        h('div', {class: 'card wide'}, h('h3', {}, 'Events per topic ', h('small', {}, 'per second')), chart, this.empty),
        h('div', {class: 'card'}, h('h3', {}, 'Topics'), table(['topic', 'events', 'events/s'], this.topics)),
        h('div', {class: 'card'}, h('h3', {}, 'Consumer lag ', this.lagSource), table(['group', 'topic', 'lag'], this.lag)),
        h('div', {class: 'card wide'}, h('h3', {}, 'Rejects ', h('small', {}, 'by reason')),
          table(['metric', 'component', 'reason', 'count', 'per s'], this.rejects))));
    this.showMetrics(null);
  }

  async load() {
    clearTimeout(this.retry);
    const answer = await getJson('/api/v1/stats');
    if (!answer.ok) {
      this.note.textContent = isTransient(answer) ? `waiting for data: ${answer.error}` : answer.error;
      this.note.hidden = false;
      if (isTransient(answer)) this.retry = setTimeout(() => this.load(), RETRY_MS);
      return;
    }
    this.onStats({stats: answer.data});
  }

  // The live feed's stats event: {stats: <GET /api/v1/stats>, metrics: [...]}.
  onStats({stats, metrics}) {
    if (!stats) return;
    this.note.hidden = true;
    if (stats.time_ms) {
      this.time.textContent = `snapshot ${new Date(stats.time_ms).toLocaleTimeString()}`;
      this.addPoint(stats);
    }
    fill(this.topics, stats.topics.map((t) =>
      h('tr', {}, h('td', {}, t.topic), h('td', {class: 'num'}, num(t.events)), h('td', {class: 'num'}, num(t.rate_per_s)))));
    this.lagSource.textContent = stats.lag_source === 'broker' ? 'live' : 'at the snapshot';
    fill(this.lag, stats.lag.map((l) =>
      h('tr', {}, h('td', {}, l.group), h('td', {}, l.topic), h('td', {class: 'num'}, num(l.lag)))));
    fill(this.rejects, stats.rejects.length === 0
      ? h('tr', {}, h('td', {colspan: 5, class: 'hint'}, 'no rejects'))
      : stats.rejects.map((r) =>
        h('tr', {}, h('td', {}, r.metric), h('td', {}, r.component), h('td', {}, r.reason || '–'),
          h('td', {class: 'num'}, num(r.count)), h('td', {class: 'num'}, num(r.rate_per_s)))));
    if (metrics) this.showMetrics(metrics);
  }

  // One point per stats snapshot (the live feed may repeat a snapshot).
  addPoint(stats) {
    const t = stats.time_ms / 1000;
    const last = this.history[this.history.length - 1];
    if (last && last.t >= t) return;
    const rates = {};
    for (const topic of stats.topics) if (topic.rate_per_s != null) rates[topic.topic] = topic.rate_per_s;
    if (Object.keys(rates).length === 0) return;
    this.history.push({t, rates});
    if (this.history.length > HISTORY) this.history.shift();
    const names = [...new Set(this.history.flatMap((p) => Object.keys(p.rates)))].sort();
    const data = [this.history.map((p) => p.t), ...names.map((n) => this.history.map((p) => p.rates[n] ?? null))];
    this.chart.set(names, data);
    this.empty.hidden = true;
  }

  showMetrics(metrics) {
    const m = metrics ?? [];
    const value = (v, format) => (metrics ? format(v) : '–');
    const kpi = (v, label) => h('div', {class: 'kpi'}, h('div', {class: 'kpi-value'}, v), h('div', {class: 'kpi-label'}, label));
    // InfluxDB sinks (docs/influxdb.md), when the pipeline has any: one
    // tile per sink with the points InfluxDB took, and whether it takes writes.
    const influx = m.filter((x) => x.name === 'txpipe_influxdb_up').map((up) => {
      const sink = up.labels.sink;
      const points = m.find((x) => x.name === 'txpipe_influxdb_points_total' && x.labels.sink === sink);
      const state = up.value === 1 ? 'up' : points && points.value > 0 ? 'retrying' : 'not yet written';
      return h('div', {class: 'kpi', 'data-influxdb-sink': sink},
        h('div', {class: 'kpi-value'}, num(points ? points.value : 0)),
        h('div', {class: 'kpi-label'}, `InfluxDB points, sink ${sink} (${state})`));
    });
    fill(this.kpis,
      kpi(value(metricSum(m, 'txpipe_archive_files_total'), num), 'archive files written'),
      kpi(value(metricSum(m, 'txpipe_archive_bytes_total'), bytes), 'archived'),
      kpi(value(metricSum(m, 'txpipe_processor_events_total'), num), 'events processed'),
      kpi(value(metricMax(m, 'txpipe_processor_watermark_lag_ms'), duration), 'watermark lag'),
      ...influx);
  }
}
