// The txpipe dashboard: one page, four sections (finance, cars, alerts,
// pipeline), loaded from the HTTP API and kept current by the live feed.
// docs/dashboard.md describes it; web/build.mjs bundles it.

import 'uplot/dist/uPlot.min.css';
import './style.css';

import {AlertsPanel} from './alerts.js';
import {getJson, isTransient} from './api.js';
import {h, segmented} from './dom.js';
import {parseDuration} from './format.js';
import {Live} from './live.js';
import {PipelinePanel} from './pipeline.js';
import {CARS, FINANCE, StreamPanel} from './streams.js';

const WINDOWS = [['10s'], ['1m']];
const RANGES = [['5m'], ['1h'], ['24h']];

const settings = {window: '10s', range: '1h', rangeMs: parseDuration('1h')};

function main() {
  const status = h('span', {class: 'status', 'data-state': 'connecting'}, 'connecting…');
  const badge = h('a', {class: 'badge', href: '#alerts', hidden: true, title: 'new alerts', 'aria-live': 'polite'});
  const sections = {
    finance: h('section', {id: 'finance', class: 'panel'}),
    cars: h('section', {id: 'cars', class: 'panel'}),
    alerts: h('section', {id: 'alerts', class: 'panel'}),
    pipeline: h('section', {id: 'pipeline', class: 'panel'}),
  };
  const nav = h('nav', {}, Object.keys(sections).map((id) =>
    h('a', {href: `#${id}`}, id[0].toUpperCase() + id.slice(1))));
  const controls = h('div', {class: 'controls'},
    h('span', {class: 'label'}, 'window'),
    segmented('window size', WINDOWS, settings.window, (v) => {
      settings.window = v;
      reloadAll();
    }),
    h('span', {class: 'label'}, 'range'),
    segmented('time range', RANGES, settings.range, (v) => {
      settings.range = v;
      settings.rangeMs = parseDuration(v);
      reloadAll();
    }));
  document.getElementById('app').append(
    h('header', {class: 'top'},
      h('h1', {}, 'txpipe'), status, badge, nav, controls),
    h('main', {}, Object.values(sections)));

  const panels = [new StreamPanel(sections.finance, FINANCE, settings),
                  new StreamPanel(sections.cars, CARS, settings)];
  const alerts = new AlertsPanel(sections.alerts, {
    onUnseen: (n) => {
      badge.hidden = n === 0;
      badge.textContent = n > 99 ? '99+' : String(n);
      document.title = n ? `(${n}) txpipe` : 'txpipe';
    },
  });
  const pipeline = new PipelinePanel(sections.pipeline);

  // The state shown in the header: the server, the store, the live feed.
  const state = {live: 'connecting', data: 'unknown'};
  function showState() {
    const [key, text] =
      state.data === 'unreachable' ? ['down', 'server unreachable'] :
      state.data === 'waiting' ? ['waiting', 'waiting for data'] :
      state.live === 'open' ? ['live', 'live'] :
      state.live === 'down' ? ['down', 'reconnecting…'] : ['connecting', 'connecting…'];
    status.dataset.state = key;
    status.textContent = text;
  }

  // The streams the store describes; retried, more and more slowly, while
  // the store is missing or a section's stream is not in it yet.
  let streamsTimer = 0;
  let streamsPause = 2000;
  async function loadStreams() {
    clearTimeout(streamsTimer);
    const answer = await getJson('/api/v1/streams');
    if (answer.ok) {
      state.data = 'ok';
      for (const p of panels) p.setInfo(answer.data.streams.find((s) => s.stream === p.spec.stream));
    } else {
      state.data = answer.status === 0 ? 'unreachable' : isTransient(answer) ? 'waiting' : 'ok';
      for (const p of panels) p.setInfo(undefined);
    }
    showState();
    if (!answer.ok || panels.some((p) => !p.info)) {
      streamsTimer = setTimeout(loadStreams, streamsPause);
      streamsPause = Math.min(streamsPause * 1.5, 30_000);
    }
  }

  function reloadAll() {
    streamsPause = 2000;
    loadStreams();
    for (const p of panels) p.reload();
    alerts.load(settings.rangeMs);
  }

  new Live('/api/v1/live', {
    window: (record) => {
      const panel = panels.find((p) => p.spec.stream === record.stream);
      if (panel?.info) {
        panel.onWindow(record);
      } else if (panel) {
        // A stream appeared: describe it once its burst of records is in.
        clearTimeout(streamsTimer);
        streamsTimer = setTimeout(loadStreams, 500);
      }
    },
    alert: (record) => alerts.onAlert(record),
    recent: (data) => panels.forEach((p) => p.onRecent(data)),
    stats: (data) => pipeline.onStats(data),
    state: (live, reconnected) => {
      state.live = live;
      showState();
      // Back after a drop (a server restart): fetch what the feed missed.
      if (reconnected) {
        reloadAll();
        pipeline.load();
      }
    },
  }).start();

  loadStreams();
  alerts.load(settings.rangeMs);
  pipeline.load();
  window.__txpipe = {settings, panels, alerts, pipeline};
}

main();
