// Shared by the web interface's modules: DOM building (text only, never HTML), number and time formatting, the
// manager's clock as the page sees it, and the JSON API client.

export const STATES = ['alive', 'unreachable', 'down', 'removed', 'refused'];
const TOKEN_KEY = 'krakend-cm-token';

/** Manager clock minus the browser's (set from each overview), so "ago" is right even when the clocks differ. */
export const clock = { skewMs: 0 };

export function managerNow() {
  return Date.now() + clock.skewMs;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// ---- DOM helpers ---------------------------------------------------------------------------------------------

export const $ = (id) => document.getElementById(id);

/** An element with attributes, properties (`on…` listeners) and children (strings become text nodes). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function setText(id, text) {
  $(id).textContent = text;
}

export function replaceRows(tbody, rows, columns, emptyText) {
  if (rows.length === 0) rows = [h('tr', null, h('td', { class: 'empty', colspan: columns }, emptyText))];
  tbody.replaceChildren(...rows);
}

// ---- formatting ----------------------------------------------------------------------------------------------

const nf = new Intl.NumberFormat('en-US');

export function fmtInt(n) {
  return n === null || n === undefined ? '–' : nf.format(Math.round(n));
}

export function fmtRate(n) {
  if (n === null || n === undefined) return '–';
  if (n === 0) return '0';
  if (n < 0.1) return n.toFixed(3);
  if (n < 10) return n.toFixed(2);
  if (n < 1000) return n.toFixed(1);
  return nf.format(Math.round(n));
}

export function fmtPct(r) {
  if (r === null || r === undefined) return '–';
  if (r === 0) return '0%';
  const p = r * 100;
  return `${p < 0.1 ? p.toFixed(3) : p < 10 ? p.toFixed(2) : p.toFixed(1)}%`;
}

export function fmtUs(us) {
  if (us === null || us === undefined) return '–';
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

export function fmtBytes(b) {
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1024 / 1024).toFixed(1)} MiB`;
}

/** "12 s ago", "3 min ago", "2 h ago", "4 d ago", by the manager's clock. */
export function fmtAgo(ms) {
  const s = Math.max(0, Math.round((managerNow() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtTime(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Amber for some errors, red from 5 %. */
export function errorClass(rate) {
  return rate >= 0.05 ? 'bad' : rate > 0 ? 'warn' : '';
}

export function statePill(state, extra) {
  return h('span', { class: `pill state-${STATES.includes(state) ? state : 'removed'}`, dataset: { state } }, state, extra);
}

export function compare(a, b) {
  return typeof a === 'string' || typeof b === 'string' ? String(a).localeCompare(String(b)) : a - b;
}

export function markSorted(table, sort) {
  for (const th of table.tHead.rows[0].cells) {
    th.classList.toggle('sorted-asc', th.dataset.sort === sort.key && sort.dir > 0);
    th.classList.toggle('sorted-desc', th.dataset.sort === sort.key && sort.dir < 0);
  }
}

export function sortable(table, sortState, render) {
  table.tHead.addEventListener('click', (e) => {
    const th = e.target.closest('th[data-sort]');
    if (!th) return;
    const key = th.dataset.sort;
    if (sortState.key === key) sortState.dir = -sortState.dir;
    // Numbers (and columns marked data-sort-first="desc") start with the largest: what needs attention.
    else Object.assign(sortState, { key, dir: th.classList.contains('num') || th.dataset.sortFirst === 'desc' ? -1 : 1 });
    render();
  });
}

// ---- API -----------------------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { auth = false, method = 'GET' } = {}) {
  const headers = { Accept: 'application/json' };
  if (auth) {
    if (!token()) throw new ApiError(401, 'this needs the API token: set it with the “API token” button above');
    headers.Authorization = `Bearer ${token()}`;
  }
  const res = await fetch(path, { method, headers, cache: 'no-store' });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const message = res.status === 401 ? 'the API token was refused' : body.error ?? `HTTP ${res.status}`;
    throw new ApiError(res.status, message);
  }
  return body;
}

// ---- circuit breakers ----------------------------------------------------------------------------------------

const CIRCUIT_LABELS = { closed: 'closed', open: 'open', 'half-open': 'half-open' };

/** One node's circuit state for a backend, in its colour. */
export function circuitPill(state) {
  const known = state in CIRCUIT_LABELS ? state : 'unknown';
  return h('span', { class: `pill circuit-${known}`, dataset: { circuit: known } }, CIRCUIT_LABELS[state] ?? String(state));
}

/**
 * A backend's circuit over the nodes that reported one in the range ({closed, open, half_open, nodes}, or null for
 * a backend without a breaker): the worst state first, e.g. "open on 2 of 5 nodes".
 */
export function circuitBadge(c) {
  if (!c) return h('span', { class: 'muted', title: 'no circuit breaker reported for this backend' }, '–');
  const of = (n) => (n === c.nodes ? `on ${c.nodes === 1 ? 'its node' : `all ${c.nodes} nodes`}` : `on ${n} of ${c.nodes} node${c.nodes === 1 ? '' : 's'}`);
  const [state, n] = c.open > 0 ? ['open', c.open] : c.half_open > 0 ? ['half-open', c.half_open] : ['closed', c.closed];
  const title = `Circuit breaker as last reported by the ${c.nodes} node${c.nodes === 1 ? '' : 's'} that sent stats in the range: ${c.closed} closed, ${c.open} open, ${c.half_open} half-open`;
  return h('span', { class: `pill circuit-${state}`, dataset: { circuit: state }, title }, `${state} ${of(n)}`);
}
