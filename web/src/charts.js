// Charts over uPlot: a time chart (one line per series, legend, y axis with
// its unit) and a horizontal bar chart (a distribution over categories).
// Both fill their element's width and follow it (ResizeObserver), and set
// data-points="N" on the element: how many values they show (tests wait on it).

import uPlot from 'uplot';
import {clock, dateTime, num, short} from './format.js';

// Tableau 10: distinct on white, and for the common kinds of colour blindness.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
                 '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
export const color = (i) => PALETTE[i % PALETTE.length];

const AXIS = {stroke: '#5b6472', grid: {stroke: '#e8ebf0', width: 1}, ticks: {stroke: '#d0d5dd', width: 1}};

// Calls fn(width) when el's width changes, at most once per frame.
function watchWidth(el, fn) {
  let last = 0;
  let frame = 0;
  new ResizeObserver(() => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const width = Math.floor(el.clientWidth);
      if (width > 0 && width !== last) {
        last = width;
        fn(width);
      }
    });
  }).observe(el);
}

const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function countPoints(data) {
  let n = 0;
  for (let i = 1; i < data.length; i++) for (const v of data[i]) if (v != null) n++;
  return n;
}

function timeRange(times) {
  if (times.length === 0) {
    const now = Date.now() / 1000;
    return [now - 60, now];
  }
  const [first, last] = [times[0], times[times.length - 1]];
  return first === last ? [first - 30, last + 30] : [first, last];
}

// Tick labels on one line: "14:05" (or "14:05:30" between minutes).
function timeLabel(t, step) {
  const text = clock(t * 1000);
  return step >= 60 && text.endsWith(':00') ? text.slice(0, -3) : text;
}

function showNewest(u) {
  if (u.data[0].length > 0) u.setLegend({idx: u.data[0].length - 1});
}

export class TimeChart {
  // el: the element to fill. unit: the y axis label ("tx/s"). format: a
  // value for the legend. height: px.
  constructor(el, {unit, format = num, height = 200}) {
    Object.assign(this, {el, unit, format, height});
    this.plot = null;
    this.names = [];
    el.dataset.points = '0';
    watchWidth(el, (width) => this.plot?.setSize({width, height: this.height}));
  }

  // names: one label per series; data: [times in s, ...one column per name].
  set(names, data) {
    if (!this.plot || !sameList(names, this.names)) {
      this.plot?.destroy();
      this.names = [...names];
      this.plot = new uPlot(this.options(), data, this.el);
    } else {
      this.plot.setData(data);
      if (this.plot.cursor.idx == null) showNewest(this.plot);
    }
    this.el.dataset.points = String(countPoints(data));
  }

  options() {
    return {
      width: Math.max(this.el.clientWidth, 200),
      height: this.height,
      padding: [null, 28, null, null],  // room for the last time label
      // The data's span; a minute around a single window (uPlot would span years).
      scales: {x: {time: true, range: (u) => timeRange(u.data[0])}},
      cursor: {drag: {x: true, y: false}},
      series: [
        {label: 'time', value: (u, t) => (t == null ? '–' : dateTime(t * 1000))},
        ...this.names.map((name, i) => ({
          label: name,
          stroke: color(i),
          width: 1.5,
          points: {size: 4},
          value: (u, v) => (v == null ? '–' : this.format(v)),
        })),
      ],
      axes: [
        {...AXIS, space: 60, values: (u, splits, axis, space, step) => splits.map((t) => timeLabel(t, step))},
        {...AXIS, label: this.unit, labelSize: 18, size: 52, values: (u, splits) => splits.map(short)},
      ],
      // Without the pointer on the chart, the legend shows the newest values.
      hooks: {setCursor: [(u) => u.cursor.idx == null && showNewest(u)], ready: [showNewest]},
    };
  }
}

export class BarChart {
  // el: the element to fill. unit: the value axis label ("transactions").
  constructor(el, {unit, format = num}) {
    Object.assign(this, {el, unit, format});
    this.plot = null;
    this.names = [];
    el.dataset.points = '0';
    watchWidth(el, (width) => this.plot?.setSize({width, height: this.height()}));
  }

  height() {
    return 70 + Math.max(this.names.length, 1) * 26;
  }

  // names: the categories; values: one number per category.
  set(names, values) {
    const data = [names.map((_, i) => i), values];
    if (!this.plot || !sameList(names, this.names)) {
      this.plot?.destroy();
      this.names = [...names];
      this.plot = new uPlot(this.options(), data, this.el);
    } else {
      this.plot.setData(data);
    }
    this.el.dataset.points = String(countPoints(data));
  }

  options() {
    const names = this.names;
    const labelWidth = Math.min(150, 16 + 7 * Math.max(4, ...names.map((n) => n.length)));
    const fill = color(0);
    return {
      width: Math.max(this.el.clientWidth, 200),
      height: this.height(),
      legend: {show: false},
      cursor: {show: false},
      select: {show: false},
      scales: {
        // Categories run top to bottom, values left to right.
        x: {time: false, ori: 1, dir: -1, range: () => [-0.5, names.length - 0.5]},
        y: {ori: 0, range: (u, min, max) => [0, max > 0 ? max * 1.25 : 1]},
      },
      axes: [
        {...AXIS, scale: 'x', side: 3, size: labelWidth, grid: {show: false}, ticks: {show: false},
         splits: () => names.map((_, i) => i), values: (u, splits) => splits.map((i) => names[i] ?? '')},
        {...AXIS, scale: 'y', side: 2, label: this.unit, labelSize: 18, values: (u, splits) => splits.map(short)},
      ],
      series: [
        {},
        {label: this.unit, fill: fill + 'cc', stroke: fill, width: 1, points: {show: false},
         paths: uPlot.paths.bars({size: [0.7, 20]})},
      ],
      hooks: {draw: [(u) => this.drawValues(u)]},
    };
  }

  // Writes each bar's value at its end.
  drawValues(u) {
    const ctx = u.ctx;
    const dpr = window.devicePixelRatio || 1;
    ctx.save();
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    ctx.fillStyle = '#2b3240';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    u.data[1].forEach((v, i) => {
      if (v == null) return;
      ctx.fillText(this.format(v), u.valToPos(v, 'y', true) + 4 * dpr, u.valToPos(i, 'x', true));
    });
    ctx.restore();
  }
}
