// The Cluster Manager's web interface: plain ES modules, no build step. It reads the manager's JSON API on the
// same origin, listens to /api/v1/events (server-sent events) and polls when the stream is unavailable. Every
// text from the API (node names, errors, notes) goes into the DOM as text nodes, never as HTML.
import { chart } from './charts.js';
import { loadNodeDetail, nodeHash, parseNodeHash } from './node-detail.js';
import {
  $, api, circuitBadge, clock, compare, errorClass, fmtAgo, fmtBytes, fmtInt, fmtPct, fmtRate, fmtTime, fmtUs, h,
  managerNow, markSorted, replaceRows, setText, setToken, sortable, STATES, statePill, token,
} from './ui.js';

/** Sorting by state puts what needs attention first. */
const STATE_RANK = { unreachable: 0, down: 1, refused: 2, alive: 3, removed: 4 };
const RANGE_LABELS = { 300: '5 min', 900: '15 min', 3600: '1 h' };
const POLL_MS = 2000;
const VIEWS = ['nodes', 'traffic', 'config', 'limits', 'license'];
/** Each section's tab: a node's detail belongs to the nodes tab. */
const TAB_OF = { node: 'nodes' };

// ---- state ---------------------------------------------------------------------------------------------------

const state = {
  view: 'nodes',
  rangeS: 300,
  overview: null,
  nodes: [],
  nodeTraffic: {},
  limits: [],
  keys: [],
  nodesSort: { key: 'state', dir: 1 },
  nodesPage: 0,
  nodesStates: new Set(STATES),
  keysSort: { key: 'requests', dir: -1 },
  keysKinds: new Set(['endpoint', 'backend']),
  chartKey: '',
  /** The node shown by `#node=<id>`. */
  nodeId: null,
  refreshing: false,
  refreshAgain: false,
};

// ---- live updates --------------------------------------------------------------------------------------------

let events = null;
let pollTimer = null;

function setLive(mode, text) {
  const el = $('live');
  el.dataset.mode = mode;
  el.textContent = text;
}

function connect() {
  events?.close();
  stopPolling();
  if (typeof EventSource !== 'function') return startPolling();
  events = new EventSource(`/api/v1/events?range=${state.rangeS}`);
  events.addEventListener('open', () => {
    stopPolling();
    setLive('live', 'live');
  });
  events.addEventListener('overview', (e) => onOverview(JSON.parse(e.data)));
  // The browser retries the stream by itself; meanwhile the page polls so it never goes stale.
  events.addEventListener('error', () => startPolling());
}

function startPolling() {
  if (pollTimer) return;
  setLive('polling', 'polling');
  const poll = async () => {
    try {
      onOverview(await api(`/api/v1/overview?range=${state.rangeS}`));
      if ($('live').dataset.mode !== 'live') setLive('polling', 'polling');
    } catch {
      setLive('offline', 'manager unreachable');
    }
  };
  void poll();
  pollTimer = setInterval(poll, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

// ---- overview ------------------------------------------------------------------------------------------------

function onOverview(ov) {
  state.overview = ov;
  clock.skewMs = ov.now - Date.now();
  setText('manager-id', ov.manager_id);
  setText('ov-counted', fmtInt(ov.counted));
  setText('ov-max', fmtInt(ov.max_nodes));
  $('ov-states').replaceChildren(
    ...STATES.map((s) => h('span', { class: `pill state-${s}${ov.nodes[s] ? '' : ' zero'}`, title: `${ov.nodes[s]} ${s}` }, `${ov.nodes[s]} ${s}`)),
  );
  setText('tab-count-nodes', String(ov.total_nodes));
  setText('ov-rps', fmtRate(ov.rps));
  setText('ov-requests', `${fmtInt(ov.requests)} req · ${RANGE_LABELS[state.rangeS] ?? `${state.rangeS} s`}`);
  const errors = $('ov-errors');
  errors.textContent = fmtPct(ov.error_rate);
  errors.className = `card-value${ov.error_rate >= 0.05 ? ' bad' : ov.error_rate > 0 ? ' warn' : ''}`;
  setText('ov-p99', fmtUs(ov.p99_us));
  setText('ov-p50', ov.p50_us === null ? 'no requests' : `p50 ${fmtUs(ov.p50_us)}`);
  setText('ov-config', ov.config ? `v${ov.config.version}` : 'none');
  setText('ov-config-sub', ov.config ? `${ov.config.hash.slice(0, 12)} · ${fmtAgo(Date.parse(ov.config.created_at))}` : 'nodes serve their local krakend.json');
  const lic = ov.license;
  const licEl = $('ov-license');
  licEl.textContent = lic.tier === 'free' ? 'free tier' : lic.status.replaceAll('_', ' ');
  licEl.className = `card-value${lic.status === 'expired' ? ' bad' : lic.expiry_warning ? ' warn' : lic.status === 'valid' ? ' good' : ''}`;
  setText('ov-license-sub', lic.tier === 'free' ? `up to ${ov.max_nodes} nodes` : lic.days_left === null ? '' : lic.days_left >= 0 ? `${lic.days_left} days left` : `expired ${-lic.days_left} days ago`);
  $('ov-license-sub').title = lic.licensee ? `${lic.licensee}, valid until ${lic.not_after}` : '';
  const banner = $('banner');
  banner.hidden = !lic.expiry_warning;
  banner.textContent = lic.expiry_warning ?? '';
  banner.classList.toggle('severe', lic.status === 'expired' || lic.status === 'expired_in_margin');
  void refresh();
}

/** Reloads what the current view shows; one refresh at a time, and one more if asked meanwhile. */
async function refresh() {
  if (state.refreshing) {
    state.refreshAgain = true;
    return;
  }
  state.refreshing = true;
  try {
    if (state.view === 'nodes') await loadNodes();
    else if (state.view === 'traffic') await loadTraffic();
    else if (state.view === 'config') await loadConfig();
    else if (state.view === 'limits') await loadLimits();
    else if (state.view === 'license') await loadLicense();
    else if (state.view === 'node') await loadNodeDetail(state.nodeId, state.rangeS, state.overview?.config?.version ?? null);
    setText('footer-status', `Updated ${fmtTime(managerNow())}`);
  } catch (err) {
    setText('footer-status', `Could not load the ${state.view} view: ${err.message}`);
  } finally {
    state.refreshing = false;
    if (state.refreshAgain) {
      state.refreshAgain = false;
      void refresh();
    }
  }
}

// ---- nodes ---------------------------------------------------------------------------------------------------

async function loadNodes() {
  const [nodes, traffic, limits] = await Promise.all([
    api('/api/v1/nodes'),
    api(`/api/v1/stats/nodes?range=${state.rangeS}`),
    api('/api/v1/limits'),
  ]);
  state.nodes = nodes.nodes;
  state.nodeTraffic = traffic.nodes;
  state.limits = limits.limits;
  renderNodes();
}

/** Per node: its leases summed over the limits (rate in tokens/s), or null when it holds none. */
function leasesByNode() {
  const out = new Map();
  for (const limit of state.limits) {
    for (const n of limit.nodes) {
      if (!n.lease) continue;
      const cur = out.get(n.nodeId) ?? { rate: 0, limits: [] };
      cur.rate += n.lease.rate;
      cur.limits.push(`${limit.limitId}: ${fmtRate(n.lease.rate)}/s of ${fmtRate(limit.rate)}/s`);
      out.set(n.nodeId, cur);
    }
  }
  return out;
}

function nodeRowsData() {
  const leases = leasesByNode();
  const current = state.overview?.config?.version ?? null;
  return state.nodes.map((n) => {
    const t = state.nodeTraffic[n.id];
    return {
      node: n,
      traffic: t,
      lease: leases.get(n.id) ?? null,
      current,
      sort: {
        state: STATE_RANK[n.state] ?? 5,
        name: n.name.toLowerCase(),
        address: n.addresses?.api ?? '',
        since: Date.parse(n.since),
        version: n.version,
        config: n.config_version ?? -1,
        lease: leases.get(n.id)?.rate ?? -1,
        requests: t?.requests ?? 0,
        rps: t?.rps ?? 0,
        error_rate: t?.error_rate ?? 0,
        mean: t?.mean_us ?? -1,
        last_seen: Date.parse(n.last_seen),
      },
      text: `${n.name} ${n.id} ${n.addresses?.api ?? ''} ${n.addresses?.cluster ?? ''} ${n.version} ${n.state}${n.open_circuits?.length ? ' open circuit' : ''}`.toLowerCase(),
    };
  });
}

function renderNodes() {
  const all = nodeRowsData();
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const r of all) counts[r.node.state] = (counts[r.node.state] ?? 0) + 1;
  $('nodes-states').replaceChildren(
    ...STATES.map((s) =>
      h('button', {
        type: 'button',
        class: `state-${s}`,
        'aria-pressed': String(state.nodesStates.has(s)),
        title: `Show ${s} nodes`,
        onclick: () => {
          if (state.nodesStates.has(s)) state.nodesStates.delete(s);
          else state.nodesStates.add(s);
          state.nodesPage = 0;
          renderNodes();
        },
      }, `${s} ${counts[s]}`),
    ),
  );

  const filter = $('nodes-filter').value.trim().toLowerCase();
  const { key, dir } = state.nodesSort;
  const rows = all
    .filter((r) => state.nodesStates.has(r.node.state) && (!filter || r.text.includes(filter)))
    .sort((a, b) => dir * compare(a.sort[key], b.sort[key]) || compare(a.sort.name, b.sort.name));

  const size = Number($('nodes-page-size').value) || rows.length || 1;
  const pages = Math.max(1, Math.ceil(rows.length / size));
  state.nodesPage = Math.min(state.nodesPage, pages - 1);
  const start = state.nodesPage * size;
  const shown = rows.slice(start, start + size);
  setText('nodes-showing', rows.length === 0 ? `0 of ${all.length} nodes` : `${start + 1}–${start + shown.length} of ${rows.length}${rows.length < all.length ? ` (filtered from ${all.length})` : ''}`);
  $('nodes-pager').replaceChildren(
    h('button', { type: 'button', 'aria-label': 'Previous page', disabled: state.nodesPage === 0, onclick: () => { state.nodesPage--; renderNodes(); } }, '‹'),
    h('span', { class: 'muted', id: 'nodes-page' }, `page ${state.nodesPage + 1} of ${pages}`),
    h('button', { type: 'button', 'aria-label': 'Next page', disabled: state.nodesPage >= pages - 1, onclick: () => { state.nodesPage++; renderNodes(); } }, '›'),
  );
  markSorted($('nodes-table'), state.nodesSort);
  replaceRows($('nodes-table').tBodies[0], shown.map(nodeRow), 13, all.length === 0 ? 'No node has joined yet.' : 'No node matches the filter.');
}

function nodeRow({ node: n, traffic: t, lease, current }) {
  const config = n.config_error
    ? h('span', { class: 'err-text', title: n.config_error }, `✗ ${n.config_error}`)
    : n.config_version === null
      ? h('span', { class: 'muted' }, current === null ? 'local' : '–')
      : n.config_version === current
        ? h('span', { class: 'ok', title: 'acknowledged the current version' }, `v${n.config_version} ✓`)
        : h('span', { class: 'warn', title: `serves v${n.config_version}; current is v${current}` }, `v${n.config_version} (behind)`);
  const removable = n.state === 'down' || n.state === 'removed' || n.state === 'refused';
  const open = n.open_circuits ?? [];
  return h('tr', {
    class: 'clickable',
    dataset: { nodeId: n.id, state: n.state },
    title: 'Show this node in detail',
    // The name is a link for the keyboard; the rest of the row is a larger target for the mouse.
    onclick: (e) => {
      if (!e.target.closest('a, button')) location.hash = nodeHash(n.id);
    },
  },
    h('td', { dataset: { col: 'state' } }, statePill(n.state), n.control_connected || n.state !== 'alive' ? null : h('span', { class: 'suspect', title: 'no control channel open' }, 'no channel')),
    h('td', { dataset: { col: 'name' } },
      h('a', { class: 'node-name', href: nodeHash(n.id) }, n.name),
      open.length ? h('span', { class: 'circuit-flag', dataset: { openCircuits: open.length }, title: `Circuit breaker open, as last reported, for:\n${open.join('\n')}` }, `${open.length} open circuit${open.length === 1 ? '' : 's'}`) : null,
      h('span', { class: 'node-id' }, n.id)),
    h('td', { class: 'mono' }, n.addresses?.api ?? ''),
    h('td', { title: fmtTime(Date.parse(n.since)) }, fmtAgo(Date.parse(n.since))),
    h('td', { class: 'mono' }, n.version),
    h('td', { dataset: { col: 'config' } }, config),
    h('td', { class: 'num', title: lease ? lease.limits.join('\n') : 'no lease' }, lease ? `${fmtRate(lease.rate)}/s` : '–'),
    h('td', { class: 'num', dataset: { col: 'requests' } }, fmtInt(t?.requests ?? 0)),
    h('td', { class: 'num' }, fmtRate(t?.rps ?? 0)),
    h('td', { class: `num ${errorClass(t?.error_rate ?? 0)}` }, fmtPct(t?.error_rate ?? 0)),
    h('td', { class: 'num' }, fmtUs(t?.mean_us ?? null)),
    h('td', { title: fmtTime(Date.parse(n.last_seen)) }, fmtAgo(Date.parse(n.last_seen))),
    h('td', { class: 'actions' }, removable
      ? h('button', { type: 'button', class: 'danger', title: 'Forget this node (needs the API token)', onclick: () => removeNode(n) }, 'Remove')
      : null),
  );
}

async function removeNode(n) {
  if (!confirm(`Remove ${n.name} (${n.id}) from the registry? Its stats stay until they age out.`)) return;
  try {
    await api(`/api/v1/nodes/${encodeURIComponent(n.id)}`, { auth: true, method: 'DELETE' });
    await refresh();
  } catch (err) {
    alert(`Cannot remove ${n.id}: ${err.message}`);
  }
}

// ---- traffic: charts and the endpoints table -----------------------------------------------------------------


async function loadTraffic() {
  const keyParam = chartKeyParam();
  const [keys, stats] = await Promise.all([
    api(`/api/v1/stats/keys?range=${state.rangeS}`),
    api(`/api/v1/stats?range=${state.rangeS}${keyParam}`).catch((err) => {
      // The charted key aged out of the window: back to the cluster total.
      if (err.status !== 404) throw err;
      state.chartKey = '';
      return api(`/api/v1/stats?range=${state.rangeS}`);
    }),
  ]);
  state.keys = keys.keys;
  renderKeySelect();
  renderKeys();
  drawCharts(stats);
}

function chartKeyParam() {
  if (!state.chartKey) return '';
  const kind = /#\d+$/.test(state.chartKey) ? 'backend' : 'endpoint';
  return `&${kind}=${encodeURIComponent(state.chartKey)}`;
}

function renderKeySelect() {
  const select = $('chart-key');
  const groups = { endpoint: [], backend: [] };
  for (const k of [...state.keys].sort((a, b) => a.key.localeCompare(b.key))) groups[k.kind].push(k.key);
  const signature = JSON.stringify(groups);
  if (select.dataset.signature !== signature) {
    select.dataset.signature = signature;
    select.replaceChildren(
      h('option', { value: '' }, 'Cluster total'),
      groups.endpoint.length ? h('optgroup', { label: 'Endpoints' }, groups.endpoint.map((k) => h('option', { value: k }, k))) : null,
      groups.backend.length ? h('optgroup', { label: 'Backends' }, groups.backend.map((k) => h('option', { value: k }, k))) : null,
    );
  }
  select.value = state.chartKey;
}

function renderKeys() {
  const counts = { endpoint: 0, backend: 0 };
  for (const k of state.keys) counts[k.kind]++;
  $('keys-kinds').replaceChildren(
    ...['endpoint', 'backend'].map((kind) =>
      h('button', {
        type: 'button',
        class: 'kind',
        'aria-pressed': String(state.keysKinds.has(kind)),
        onclick: () => {
          if (state.keysKinds.has(kind)) state.keysKinds.delete(kind);
          else state.keysKinds.add(kind);
          renderKeys();
        },
      }, `${kind}s ${counts[kind]}`),
    ),
  );
  const filter = $('keys-filter').value.trim().toLowerCase();
  const { key, dir } = state.keysSort;
  // Circuits sort by how many nodes have them open, then half-open; endpoints (no circuit) last.
  const circuitRank = (c) => (c ? c.open * 1e6 + c.half_open * 1e3 + c.nodes / 1e3 : -1);
  const value = (k, field) => (field === 'key' || field === 'kind' ? k[field] : field === 'circuit' ? circuitRank(k.circuit) : k[field] ?? -1);
  const rows = state.keys
    .filter((k) => state.keysKinds.has(k.kind) && (!filter || k.key.toLowerCase().includes(filter)))
    .sort((a, b) => dir * compare(value(a, key), value(b, key)) || a.key.localeCompare(b.key));
  setText('keys-showing', `${rows.length} of ${state.keys.length}`);
  markSorted($('keys-table'), state.keysSort);
  replaceRows(
    $('keys-table').tBodies[0],
    rows.map((k) =>
      h('tr', {
        class: `clickable${k.key === state.chartKey ? ' selected' : ''}`,
        dataset: { key: k.key },
        title: 'Chart this',
        onclick: () => {
          state.chartKey = k.key;
          void refresh();
        },
      },
      h('td', null, h('span', { class: `kind-tag ${k.kind}` }, k.kind)),
      h('td', { class: 'key' }, k.key),
      h('td', { class: 'num' }, fmtInt(k.requests)),
      h('td', { class: 'num' }, fmtRate(k.rps)),
      h('td', { class: `num ${errorClass(k.error_rate)}` }, fmtPct(k.error_rate)),
      h('td', { class: 'num' }, fmtUs(k.p50_us)),
      h('td', { class: 'num' }, fmtUs(k.p99_us)),
      h('td', { class: `num${k.errors > 0 ? ' bad' : ''}` }, fmtInt(k.errors)),
      h('td', { class: `num${k.timeouts > 0 ? ' bad' : ''}` }, fmtInt(k.timeouts)),
      h('td', { class: 'num' }, fmtInt(k.rate_limited)),
      h('td', { dataset: { col: 'circuit' } }, k.kind === 'backend' ? circuitBadge(k.circuit) : null),
      ),
    ),
    11,
    state.keys.length === 0 ? 'No traffic in the window yet.' : 'Nothing matches the filter.',
  );
}

function drawCharts(stats) {
  // The slot in progress is partial: drawn, it would always look like a drop.
  const series = stats.series.filter((p) => p.t + stats.resolutionMs <= managerNow());
  stats = { ...stats, series };
  setText('chart-resolution', `${series.length} points at ${stats.resolutionMs / 1000} s resolution`);
  const xs = series.map((p) => p.t / 1000);
  const ms = (us) => (us === null ? null : us / 1000);
  chart('chart-rps', xs, [{ label: 'req/s', stroke: '#1f6feb', fill: 'rgba(31,111,235,.08)', values: stats.series.map((p) => p.rps) }], (v) => fmtRate(v));
  chart('chart-errors', xs, [{ label: 'errors', stroke: '#cf222e', fill: 'rgba(207,34,46,.08)', values: stats.series.map((p) => (p.requests ? p.errorRate * 100 : null)) }], (v) => `${v.toFixed(2)}%`, 1);
  chart('chart-latency', xs, [
    { label: 'p50', stroke: '#1a7f37', values: stats.series.map((p) => ms(p.p50Us)) },
    { label: 'p99', stroke: '#bf8700', values: stats.series.map((p) => ms(p.p99Us)) },
  ], (v) => `${v.toFixed(2)} ms`);
}

window.addEventListener('resize', () => {
  if (state.view === 'traffic' || state.view === 'node') void refresh();
});

// ---- config versions -----------------------------------------------------------------------------------------

async function loadConfig() {
  const [history, nodes] = await Promise.all([api('/api/v1/config/history?limit=50'), api('/api/v1/nodes')]);
  state.nodes = nodes.nodes;
  const versions = history.versions;
  const current = versions[0]?.version ?? null;
  const onVersion = new Map();
  for (const n of state.nodes) {
    if (n.config_version === null) continue;
    const list = onVersion.get(n.config_version) ?? [];
    list.push(n);
    onVersion.set(n.config_version, list);
  }
  const hasToken = Boolean(token());
  const needs = hasToken ? undefined : 'needs the API token';
  replaceRows(
    $('config-history').tBodies[0],
    versions.map((v, i) => {
      const serving = onVersion.get(v.version) ?? [];
      const previous = versions[i + 1];
      return h('tr', { class: v.version === current ? 'selected' : '', dataset: { version: v.version } },
        h('td', { class: 'num' }, `v${v.version}`, v.version === current ? h('span', { class: 'ok' }, ' current') : null),
        h('td', { title: fmtTime(v.createdAt) }, fmtAgo(v.createdAt)),
        h('td', null, v.author),
        h('td', { class: 'muted', title: v.note }, v.note ? (v.note.length > 60 ? `${v.note.slice(0, 60)}…` : v.note) : v.rollbackOf ? `rollback of v${v.rollbackOf}` : ''),
        h('td', { class: 'mono', title: v.hash }, v.hash.slice(0, 12)),
        h('td', { class: 'num' }, fmtBytes(v.bytes)),
        h('td', { title: serving.map((n) => n.name).join('\n') }, serving.length ? `${serving.length} node${serving.length === 1 ? '' : 's'}` : h('span', { class: 'muted' }, '–')),
        h('td', { class: 'actions' },
          h('button', { type: 'button', disabled: !hasToken, title: needs ?? 'Show the body (it may hold secrets)', onclick: () => showConfig(`Version ${v.version}`, `/api/v1/config/versions/${v.version}`, (r) => prettyJson(r.body)) }, 'Body'),
          ' ',
          previous ? h('button', { type: 'button', disabled: !hasToken, title: needs ?? `Changes from v${previous.version}`, onclick: () => showConfig(`Changes from v${previous.version} to v${v.version}`, `/api/v1/config/diff?from=${previous.version}&to=${v.version}`, (r) => diffText(r.diff)) }, 'Diff') : null,
        ),
      );
    }),
    8,
    'No config applied yet: every node serves its local krakend.json.',
  );
  // Nacks first, then nodes behind, then those with no answer, then the rest.
  const rank = (n) => (n.config_error ? 0 : n.config_version !== null && n.config_version !== current ? 1 : n.config_version === null && n.state !== 'refused' ? 2 : n.state === 'refused' ? 4 : 3);
  const nodeRows = [...state.nodes]
    .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name))
    .map((n) =>
      h('tr', { dataset: { nodeId: n.id } },
        h('td', null, h('span', { class: 'node-name' }, n.name), h('span', { class: 'node-id' }, n.id)),
        h('td', null, statePill(n.state)),
        h('td', { class: 'num' }, n.config_version === null ? '–' : `v${n.config_version}`),
        h('td', null, n.config_error
          ? h('span', { class: 'err-text', title: n.config_error }, `nack: ${n.config_error}`)
          : n.config_version === null
            ? h('span', { class: 'muted' }, n.state === 'refused' ? 'not admitted' : current === null ? 'local krakend.json' : 'no answer yet')
            : n.config_version === current ? h('span', { class: 'ok' }, 'ack') : h('span', { class: 'warn' }, `ack (behind v${current})`)),
      ),
    );
  replaceRows($('config-nodes').tBodies[0], nodeRows, 4, 'No node has joined yet.');
}

function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function diffText(diff) {
  if (Array.isArray(diff)) return diff.length ? diff.map((d) => (typeof d === 'string' ? d : JSON.stringify(d))).join('\n') : 'No changes.';
  return typeof diff === 'string' ? diff || 'No changes.' : JSON.stringify(diff, null, 2);
}

async function showConfig(title, path, render) {
  const box = $('config-output');
  box.hidden = false;
  setText('config-output-title', title);
  setText('config-output-body', 'Loading…');
  try {
    setText('config-output-body', render(await api(path, { auth: true })));
  } catch (err) {
    setText('config-output-body', `Cannot load it: ${err.message}`);
  }
}

// ---- limits --------------------------------------------------------------------------------------------------

async function loadLimits() {
  const [limits, nodes] = await Promise.all([api('/api/v1/limits'), api('/api/v1/nodes')]);
  state.limits = limits.limits;
  state.nodes = nodes.nodes;
  const names = new Map(state.nodes.map((n) => [n.id, n.name]));
  const box = $('limits');
  if (state.limits.length === 0) {
    box.replaceChildren(h('p', { class: 'muted' }, 'No cluster-wide limit: no node reported a qos/ratelimit limit yet.'));
    return;
  }
  box.replaceChildren(
    ...state.limits.map((l) => {
      const leased = l.nodes.reduce((sum, n) => sum + (n.lease?.rate ?? 0), 0);
      const largest = Math.max(0, ...l.nodes.map((n) => n.lease?.rate ?? 0));
      const rows = [...l.nodes]
        .sort((a, b) => (b.lease?.rate ?? 0) - (a.lease?.rate ?? 0))
        .map((n) =>
          h('tr', { dataset: { nodeId: n.nodeId } },
            h('td', null, h('span', { class: 'node-name' }, names.get(n.nodeId) ?? n.nodeId), h('span', { class: 'node-id' }, n.nodeId)),
            h('td', null, statePill(n.state), n.silent ? h('span', { class: 'suspect' }, 'silent') : null),
            h('td', { class: 'num' }, `${fmtRate(n.demand)}/s`),
            h('td', { class: 'num' }, n.lease ? `${fmtRate(n.lease.rate)}/s` : '–', n.lease && largest > 0 ? h('span', { class: 'bar', style: `width:${Math.max(1, Math.round((60 * n.lease.rate) / largest))}px` }) : null),
            h('td', { class: 'num' }, n.lease ? fmtRate(n.lease.capacity) : '–'),
            h('td', { class: 'num' }, n.lease ? `${fmtRate(n.lease.safeShare)}/s` : '–'),
            h('td', { class: 'num' }, `${fmtRate(n.committed.rate)}/s`),
            h('td', { class: 'num' }, n.expiresInMs > 0 ? `${(n.expiresInMs / 1000).toFixed(1)} s` : h('span', { class: 'muted' }, 'expired')),
          ),
        );
      const table = h('table', { class: 'grid' },
        h('thead', null, h('tr', null, ...['Node', 'State', 'Demand', 'Lease', 'Capacity', 'Safe share', 'Committed', 'Expires in'].map((t, i) => h('th', { class: i >= 2 ? 'num' : '' }, t)))),
        h('tbody', null, rows),
      );
      return h('div', { class: 'limit', dataset: { limitId: l.limitId } },
        h('div', { class: 'limit-head' },
          h('span', { class: 'key' }, l.limitId),
          h('span', null, `cluster-wide ${fmtRate(l.rate)}/s, capacity ${fmtRate(l.capacity)}`),
          h('span', { class: leased > l.rate + 1e-9 ? 'bad' : 'muted' }, `leased ${fmtRate(leased)}/s to ${l.nodes.filter((n) => n.lease).length} of ${l.nodeCount} nodes`),
          l.learning ? h('span', { class: 'warn' }, 'learning the nodes’ leases after a restart') : null,
        ),
        h('div', { class: 'table-wrap' }, table),
      );
    }),
  );
}

// ---- license -------------------------------------------------------------------------------------------------

async function loadLicense() {
  const l = await api('/api/v1/license');
  const warning = state.overview?.license.expiry_warning;
  const facts = [
    ['Tier', l.tier === 'free' ? 'free (no license in force)' : 'licensed'],
    ['Status', l.status.replaceAll('_', ' ')],
    ['Nodes allowed', fmtInt(l.max_nodes)],
    ['Licensee', l.licensee ?? '–'],
    ['License id', l.license_id ?? '–'],
    ['Valid from', l.not_before ?? '–'],
    ['Valid until', l.not_after ?? '–'],
    ['Days left', l.days_left ?? '–'],
    ['Margin days left', l.margin_days_left ?? '–'],
  ];
  $('license').replaceChildren(
    ...(warning ? [h('dt', { class: 'bad' }, 'Warning'), h('dd', { class: 'bad' }, warning)] : []),
    ...facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]),
  );
}

// ---- wiring --------------------------------------------------------------------------------------------------

function showView() {
  const name = location.hash.slice(1);
  state.nodeId = parseNodeHash(location.hash);
  state.view = state.nodeId !== null ? 'node' : VIEWS.includes(name) ? name : 'nodes';
  for (const v of [...VIEWS, 'node']) $(`view-${v}`).hidden = v !== state.view;
  const tab = TAB_OF[state.view] ?? state.view;
  for (const a of document.querySelectorAll('.tabs a')) a.classList.toggle('active', a.dataset.view === tab);
  void refresh();
}

function showToken() {
  const button = $('token-button');
  button.classList.toggle('set', Boolean(token()));
  button.textContent = token() ? 'API token ✓' : 'API token';
}

function init() {
  const savedRange = Number(sessionStorage.getItem('krakend-cm-range'));
  if ([300, 900, 3600].includes(savedRange)) state.rangeS = savedRange;
  $('range').value = String(state.rangeS);
  $('range').addEventListener('change', () => {
    state.rangeS = Number($('range').value);
    sessionStorage.setItem('krakend-cm-range', String(state.rangeS));
    connect();
  });

  $('token-button').addEventListener('click', () => {
    const panel = $('token-panel');
    panel.hidden = !panel.hidden;
    $('token-button').setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) $('token-input').focus();
  });
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('token-input').value.trim();
    if (value) setToken(value);
    $('token-input').value = '';
    $('token-panel').hidden = true;
    showToken();
    void refresh();
  });
  $('token-forget').addEventListener('click', () => {
    setToken('');
    $('token-panel').hidden = true;
    showToken();
    void refresh();
  });
  showToken();

  $('nodes-filter').addEventListener('input', () => {
    state.nodesPage = 0;
    renderNodes();
  });
  $('nodes-page-size').addEventListener('change', () => {
    state.nodesPage = 0;
    renderNodes();
  });
  sortable($('nodes-table'), state.nodesSort, renderNodes);
  $('keys-filter').addEventListener('input', renderKeys);
  sortable($('keys-table'), state.keysSort, renderKeys);
  $('chart-key').addEventListener('change', () => {
    state.chartKey = $('chart-key').value;
    void refresh();
  });
  $('config-output-close').addEventListener('click', () => ($('config-output').hidden = true));

  window.addEventListener('hashchange', showView);
  showView();
  connect();
}

init();
