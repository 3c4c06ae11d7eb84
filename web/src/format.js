// Number and time formatting for people.

const grouped = new Intl.NumberFormat('en-US', {maximumFractionDigits: 0});
const twoDigits = new Intl.NumberFormat('en-US', {maximumFractionDigits: 2});
const threeSignificant = new Intl.NumberFormat('en-US', {maximumSignificantDigits: 3});
const compact = new Intl.NumberFormat('en-US', {notation: 'compact', maximumFractionDigits: 1});

// 1234567 -> "1,234,567"; 12.345 -> "12.35"; 0.01234 -> "0.0123"; 0.6 -> "0.6".
export function num(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1000) return grouped.format(v);
  if (a >= 1 || a === 0) return twoDigits.format(v);
  return threeSignificant.format(v);
}

// Short axis labels: 1200 -> "1.2K", 3.5e6 -> "3.5M".
export function short(v) {
  if (v == null || !Number.isFinite(v)) return '';
  return Math.abs(v) >= 1000 ? compact.format(v) : num(v);
}

export function percent(v) {
  return v == null || !Number.isFinite(v) ? '–' : `${twoDigits.format(v)} %`;
}

export function bytes(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

const pad = (n) => String(n).padStart(2, '0');

// Local wall-clock time of epoch ms: "14:03:07".
export function clock(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Local date and time of epoch ms: "2026-11-23 14:03:07".
export function dateTime(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(ms)}`;
}

// "250 ms", "12 s", "3 min".
export function duration(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–';
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  if (Math.abs(ms) < 120_000) return `${twoDigits.format(ms / 1000)} s`;
  return `${twoDigits.format(ms / 60_000)} min`;
}

// Parses "10s", "1m", "24h" into milliseconds (0 when it does not parse).
export function parseDuration(text) {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m) return 0;
  const unit = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000}[m[2]];
  return Number(m[1]) * unit;
}
