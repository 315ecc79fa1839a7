// uPlot charts for the web interface: one chart per host element, updated in place while its shape is unchanged.
import { $, h } from './ui.js';

const instances = {};

/** Draws (or updates) the chart in element `hostId`; `minMax` keeps a flat zero line from filling the height. */
export function chart(hostId, xs, series, fmt, minMax = 0.001) {
  const host = $(hostId);
  if (typeof uPlot !== 'function') {
    host.replaceChildren(h('div', { class: 'chart-empty' }, 'charting library not loaded'));
    return;
  }
  const data = [xs, ...series.map((s) => s.values)];
  const width = Math.max(200, host.clientWidth);
  const existing = instances[hostId];
  if (existing && existing.series.length === series.length + 1 && existing.root.isConnected) {
    existing.setData(data);
    if (Math.abs(existing.width - width) > 2) existing.setSize({ width, height: 190 });
    return;
  }
  existing?.destroy();
  host.replaceChildren();
  instances[hostId] = new uPlot(
    {
      width,
      height: 190,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { y: { range: (u, min, max) => [0, Math.max(max ?? 0, minMax) * 1.1] } },
      axes: [
        { stroke: '#66717f', grid: { stroke: '#edf0f3' }, ticks: { stroke: '#dfe3e8' } },
        { stroke: '#66717f', grid: { stroke: '#edf0f3' }, ticks: { stroke: '#dfe3e8' }, size: 56, values: (u, vals) => vals.map((v) => shortNumber(v)) },
      ],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, fill: s.fill, width: 1.5, points: { show: false, size: 5, filter: isolatedPoints }, value: (u, v) => (v === null ? '–' : fmt(v)) }))],
    },
    data,
    host,
  );
}

/** Points with no neighbour draw no line: mark them, so a single busy slot still shows. */
function isolatedPoints(u, si, show) {
  if (show) return null;
  const ys = u.data[si];
  const out = [];
  for (let i = 0; i < ys.length; i++) {
    if (ys[i] !== null && (i === 0 || ys[i - 1] === null) && (i === ys.length - 1 || ys[i + 1] === null)) out.push(i);
  }
  return out.length ? out : null;
}

function shortNumber(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 1) return `${+v.toFixed(1)}`;
  return `${+v.toPrecision(2)}`;
}

