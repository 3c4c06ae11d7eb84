// The alerts section: the newest alerts (rule, severity, message, the values
// that triggered it), loaded from /api/v1/alerts and upserted by id from the
// live feed. Alerts that arrive live are counted as unseen for the header's
// badge until the section is shown.

import {getJson, isTransient, query} from './api.js';
import {fill, h} from './dom.js';
import {dateTime, num} from './format.js';

const MAX_ALERTS = 100;
const RETRY_MS = 3000;

export class AlertsPanel {
  // root: the <section> to fill. onUnseen(n): the count of unseen alerts changed.
  constructor(root, {onUnseen}) {
    this.root = root;
    this.onUnseen = onUnseen;
    this.alerts = new Map();  // id -> alert record
    this.fresh = new Set();   // ids that came live and are not seen yet
    this.generation = 0;
    this.retry = 0;
    this.summary = h('span', {class: 'hint'});
    this.note = h('p', {class: 'waiting'}, 'waiting for data…');
    this.list = h('ol', {class: 'alerts', 'data-count': '0'});
    root.append(h('div', {class: 'section-head'}, h('h2', {}, 'Alerts'), this.summary), this.note, this.list);
    // Shown on screen for a moment: the new ones are seen.
    new IntersectionObserver((entries) => {
      this.visible = entries.some((e) => e.isIntersecting);
      if (this.visible) setTimeout(() => this.markSeen(), 1500);
    }).observe(this.list);
  }

  // Loads the alerts of the last `rangeMs`.
  async load(rangeMs) {
    clearTimeout(this.retry);
    const generation = ++this.generation;
    const answer = await getJson('/api/v1/alerts?' + query({since: `-${Math.round(rangeMs / 1000)}s`,
                                                              limit: MAX_ALERTS}));
    if (generation !== this.generation) return;
    if (!answer.ok) {
      this.note.textContent = isTransient(answer) ? `waiting for data: ${answer.error}` : answer.error;
      this.note.hidden = false;
      if (isTransient(answer)) this.retry = setTimeout(() => this.load(rangeMs), RETRY_MS);
      return;
    }
    this.alerts = new Map(answer.data.alerts.map((a) => [a.id, a]));
    this.render();
  }

  // An alert record from the live feed.
  onAlert(alert) {
    if (!alert?.id) return;
    if (!this.alerts.has(alert.id)) this.fresh.add(alert.id);
    this.alerts.set(alert.id, alert);
    this.render();
    if (this.visible) setTimeout(() => this.markSeen(), 1500);
  }

  markSeen() {
    if (this.fresh.size === 0) return;
    this.fresh.clear();
    this.onUnseen(0);
    for (const li of this.list.querySelectorAll('.new')) li.classList.remove('new');
  }

  render() {
    const alerts = [...this.alerts.values()].sort((a, b) => b.time_ms - a.time_ms);
    if (alerts.length > MAX_ALERTS) {
      for (const a of alerts.splice(MAX_ALERTS)) {
        this.alerts.delete(a.id);
        this.fresh.delete(a.id);
      }
    }
    const bySeverity = {};
    for (const a of alerts) bySeverity[a.severity] = (bySeverity[a.severity] ?? 0) + 1;
    this.summary.textContent = alerts.length === 0 ? '' : `${alerts.length} shown: ` +
      Object.entries(bySeverity).map(([s, n]) => `${n} ${s}`).join(', ');
    this.note.textContent = 'no alerts in this time range';
    this.note.hidden = alerts.length > 0;
    fill(this.list, alerts.map((a) => this.item(a)));
    this.list.dataset.count = String(alerts.length);
    this.onUnseen(this.fresh.size);
  }

  item(a) {
    const values = Object.entries(a.values ?? {}).map(([k, v]) =>
      h('span', {class: 'chip'}, `${k} = ${typeof v === 'number' ? num(v) : v}`));
    return h('li', {class: `alert sev-${a.severity} ${this.fresh.has(a.id) ? 'new' : ''}`},
      h('div', {class: 'alert-head'},
        h('span', {class: `severity sev-${a.severity}`}, a.severity),
        h('strong', {}, a.rule),
        h('span', {class: 'hint'}, `${a.stream} · ${a.kind}${a.key ? ` · ${a.key}` : ''}`),
        h('time', {datetime: a.time ?? ''}, dateTime(a.time_ms))),
      h('div', {class: 'alert-message'}, a.message),
      values.length ? h('div', {class: 'chips'}, values) : null);
  }
}
