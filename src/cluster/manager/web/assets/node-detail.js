// One node in detail (`#node=<id>`): identity, config answer, leases, circuit breakers, its traffic over the range
// and its endpoints. Works for removed and down nodes while the window holds their stats, and for a node the
// registry has forgotten but whose stats are still there.
import { chart } from './charts.js';
import {
  $, api, append, circuitPill, errorClass, fmtAgo, fmtInt, fmtPct, fmtRate, fmtTime, fmtUs, h, managerNow,
  replaceRows, setText, statePill,
} from './ui.js';

export function nodeHash(id) {
  return `#node=${encodeURIComponent(id)}`;
}

/** The node id of a `#node=<id>` hash, else null. */
export function parseNodeHash(hash) {
  const m = /^#node=(.+)$/.exec(hash);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

/** A 404 is an answer here (not registered, or no stats): null instead of an error. */
function orNull(promise) {
  return promise.catch((err) => {
    if (err.status === 404) return null;
    throw err;
  });
}

/** Loads and renders the node `id` over the last `rangeS` seconds; `currentConfig` is the current version or null. */
export async function loadNodeDetail(id, rangeS, currentConfig) {
  const enc = encodeURIComponent(id);
  const [node, stats, endpoints] = await Promise.all([
    orNull(api(`/api/v1/nodes/${enc}`)),
    orNull(api(`/api/v1/stats?node=${enc}&range=${rangeS}`)),
    orNull(api(`/api/v1/stats/nodes/${enc}/endpoints?range=${rangeS}`)),
  ]);
  const box = $('view-node');
  box.dataset.nodeId = id;
  box.dataset.found = String(node !== null || stats !== null);
  if (node === null && stats === null) {
    renderHead(id, null, 'No such node: neither registered nor in the stats window (its stats may have aged out).');
    $('node-body').hidden = true;
    return;
  }
  $('node-body').hidden = false;
  renderHead(id, node, node === null ? 'No longer in the registry: showing the stats the window still holds.' : null);
  renderFacts(id, node, currentConfig);
  renderLeases(node?.limits ?? []);
  renderCircuits(node?.circuits ?? {});
  renderTraffic(stats, endpoints?.endpoints ?? [], stats?.totals ?? null);
}

function renderHead(id, node, note) {
  const open = node?.open_circuits ?? [];
  const head = $('node-head');
  head.replaceChildren();
  append(head, [
    h('div', { class: 'node-title' },
      h('span', { class: 'node-title-name', id: 'node-name' }, node?.name ?? id),
      node ? statePill(node.state) : null,
      open.length ? h('span', { class: 'pill circuit-open', title: open.join('\n') }, `${open.length} open circuit${open.length === 1 ? '' : 's'}`) : null,
    ),
    h('span', { class: 'node-id' }, id),
    note ? h('p', { class: 'hint warn' }, note) : null,
  ]);
}

function renderFacts(id, n, currentConfig) {
  const since = n ? Date.parse(n.since) : null;
  const lastSeen = n ? Date.parse(n.last_seen) : null;
  const facts = n
    ? [
        ['Id', h('span', { class: 'mono' }, id)],
        ['Name', n.name],
        ['State', [statePill(n.state), ` since ${fmtAgo(since)} (${fmtTime(since)})`]],
        ['API address', h('span', { class: 'mono' }, n.addresses?.api ?? '–')],
        ['Cluster address', h('span', { class: 'mono' }, n.addresses?.cluster ?? '–')],
        ['Version', h('span', { class: 'mono' }, n.version)],
        ['Last seen', `${fmtAgo(lastSeen)} (${fmtTime(lastSeen)})`],
        ['Admitted', n.admitted_at ? fmtTime(Date.parse(n.admitted_at)) : '–'],
        ['Control channel', n.control_connected ? h('span', { class: 'ok' }, 'open') : h('span', { class: n.state === 'alive' ? 'warn' : 'muted' }, 'closed')],
        ['Config', configText(n, currentConfig)],
        ...(n.refused_reason ? [['Refused', h('span', { class: 'bad' }, n.refused_reason)]] : []),
      ]
    : [['Id', h('span', { class: 'mono' }, id)], ['Registry', h('span', { class: 'muted' }, 'not registered (reaped or forgotten)')]];
  $('node-facts').replaceChildren(...facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', { dataset: { fact: k } }, v)]));
}

function configText(n, current) {
  if (n.config_error) return h('span', { class: 'bad' }, `✗ nack: ${n.config_error}`, n.config_version === null ? '' : ` (serves v${n.config_version})`);
  if (n.config_version === null) return h('span', { class: 'muted' }, current === null ? 'local krakend.json (no config applied)' : 'no answer yet');
  if (n.config_version === current) return h('span', { class: 'ok' }, `v${n.config_version} ✓ acknowledged (current)`);
  return h('span', { class: 'warn' }, `v${n.config_version} acknowledged, behind the current v${current}`);
}

function renderLeases(limits) {
  replaceRows(
    $('node-leases').tBodies[0],
    limits.map((l) =>
      h('tr', { dataset: { limitId: l.limit_id } },
        h('td', { class: 'key' }, l.limit_id),
        h('td', { class: 'num' }, l.rate === null ? h('span', { class: 'muted' }, 'none') : `${fmtRate(l.rate)}/s`),
        h('td', { class: 'num' }, l.capacity === null ? '–' : fmtRate(l.capacity)),
        h('td', { class: 'num' }, `${fmtRate(l.demand)}/s`),
        h('td', { class: 'num' }, l.expires_in_ms > 0 ? `${(l.expires_in_ms / 1000).toFixed(1)} s` : h('span', { class: 'muted' }, 'expired')),
      ),
    ),
    5,
    'No lease: the node reported no cluster-wide limit.',
  );
}

const CIRCUIT_RANK = { open: 0, 'half-open': 1, closed: 2 };

function renderCircuits(circuits) {
  const rows = Object.entries(circuits)
    .sort(([ka, a], [kb, b]) => (CIRCUIT_RANK[a.state] ?? 3) - (CIRCUIT_RANK[b.state] ?? 3) || ka.localeCompare(kb))
    .map(([backend, c]) =>
      h('tr', { dataset: { backend, circuit: c.state } },
        h('td', { class: 'key' }, backend),
        h('td', null, circuitPill(c.state)),
        h('td', { title: fmtTime(Date.parse(c.at)) }, fmtAgo(Date.parse(c.at))),
      ),
    );
  replaceRows($('node-circuits').tBodies[0], rows, 3, 'No circuit breaker reported by this node in the window.');
}

function renderTraffic(stats, endpoints, totals) {
  setText('node-totals', totals
    ? `${fmtInt(totals.requests)} requests · ${fmtRate(totals.rps)} req/s · ${fmtPct(totals.errorRate)} errors · mean ${fmtUs(totals.meanUs)}`
    : 'no stats in the window');
  const series = stats ? withPartialSlot(stats) : [];
  setText('node-resolution', stats ? `${series.length} point${series.length === 1 ? '' : 's'} at ${stats.resolutionMs / 1000} s resolution` : '');
  const xs = series.map((p) => p.t / 1000);
  chart('chart-node-rps', xs, [{ label: 'req/s', stroke: '#1f6feb', fill: 'rgba(31,111,235,.08)', values: series.map((p) => p.rps) }], (v) => fmtRate(v));
  chart('chart-node-errors', xs, [{ label: 'errors', stroke: '#cf222e', fill: 'rgba(207,34,46,.08)', values: series.map((p) => (p.requests ? p.errorRate * 100 : null)) }], (v) => `${v.toFixed(2)}%`, 1);
  chart('chart-node-latency', xs, [{ label: 'mean', stroke: '#8250df', values: series.map((p) => (p.meanUs === null ? null : p.meanUs / 1000)) }], (v) => `${v.toFixed(2)} ms`);

  replaceRows(
    $('node-endpoints').tBodies[0],
    [...endpoints]
      .sort((a, b) => b.requests - a.requests || a.key.localeCompare(b.key))
      .map((e) =>
        h('tr', { dataset: { key: e.key } },
          h('td', { class: 'key' }, e.key),
          h('td', { class: 'num', dataset: { col: 'requests' } }, fmtInt(e.requests)),
          h('td', { class: 'num' }, fmtRate(e.rps)),
          h('td', { class: `num ${errorClass(e.error_rate)}` }, fmtPct(e.error_rate)),
          h('td', { class: 'num' }, fmtUs(e.mean_us)),
          h('td', { class: 'num' }, fmtInt(e.rate_limited)),
        ),
      ),
    6,
    'No requests through this node in the range.',
  );
}

/**
 * Per-node points are one minute wide: waiting for the slot in progress to end would hide the last minute, so it
 * is drawn with its rate over the part that has elapsed (its error rate and mean latency need no correction).
 * Its first seconds are left out (nodes report every few seconds: it would look like a drop), unless it holds
 * the node's only traffic, as for a node that just joined.
 */
const PARTIAL_MIN_MS = 15_000;

function withPartialSlot(stats) {
  const now = managerNow();
  const res = stats.resolutionMs;
  const complete = stats.series.filter((p) => p.t + res <= now);
  const partial = stats.series.find((p) => p.t + res > now && p.t <= now);
  if (!partial) return complete;
  const elapsedMs = now - partial.t;
  if (elapsedMs < PARTIAL_MIN_MS && (partial.requests === 0 || complete.some((p) => p.requests > 0))) return complete;
  return [...complete, { ...partial, rps: partial.requests / (Math.max(5_000, elapsedMs) / 1000) }];
}
