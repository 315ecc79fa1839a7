/**
 * Reads a V8 `.cpuprofile` (what `node --cpu-prof` writes) and ranks functions by self time, and the project's own
 * functions by inclusive time: enough to name the hotspots without opening DevTools.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Hotspot {
  /** `name (file:line)`, the file relative to `root` when under it. */
  label: string;
  ms: number;
  /** Share of the busy time: idle time is left out, since an idle gateway costs nothing. */
  percent: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  selfTop: Hotspot[];
  /** Self time summed per script (node internals, undici, the gateway's modules), every script, heaviest first. */
  byFile: Hotspot[];
  /** Inclusive time of functions in files whose path contains `ownCode` (the gateway's own code). */
  ownInclusiveTop: Hotspot[];
}

export function summariseCpuProfile(file: string, options: { root: string; ownCode: string; top?: number }): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const top = options.top ?? 15;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const shortUrl = (url: string) => {
    const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
    return path.startsWith(options.root) ? path.slice(options.root.length).replace(/^\//, '') : path;
  };
  const keyOf = (f: CallFrame) =>
    `${f.functionName || '(anonymous)'}${f.url ? ` (${shortUrl(f.url)}:${f.lineNumber + 1})` : ''}`;

  // Sample i lasts until sample i+1: its duration is the next delta (µs).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  }

  let idleUs = 0;
  let busyUs = 0;
  const selfByKey = new Map<string, number>();
  const selfByFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const key = keyOf(frame);
    selfByKey.set(key, (selfByKey.get(key) ?? 0) + us);
    const fileKey = frame.url ? shortUrl(frame.url) : frame.functionName;
    selfByFile.set(fileKey, (selfByFile.get(fileKey) ?? 0) + us);
  }

  // Inclusive time: a node's self time plus its subtree's, counted once per function even under recursion.
  const totalUs = new Map<number, number>();
  const subtree = (id: number): number => {
    const node = byId.get(id) as ProfileNode;
    let t = node.callFrame.functionName === '(idle)' ? 0 : (selfUs.get(id) ?? 0);
    for (const c of node.children ?? []) t += subtree(c);
    totalUs.set(id, t);
    return t;
  };
  const root = profile.nodes[0] as ProfileNode;
  subtree(root.id);
  const inclusive = new Map<string, number>();
  const onStack = new Map<string, number>();
  const walk = (id: number) => {
    const node = byId.get(id) as ProfileNode;
    const key = keyOf(node.callFrame);
    const own = node.callFrame.url.includes(options.ownCode);
    if (own && !onStack.get(key)) inclusive.set(key, (inclusive.get(key) ?? 0) + (totalUs.get(id) ?? 0));
    onStack.set(key, (onStack.get(key) ?? 0) + 1);
    for (const c of node.children ?? []) walk(c);
    onStack.set(key, (onStack.get(key) as number) - 1);
  };
  walk(root.id);

  const rank = (m: Map<string, number>, limit = top): Hotspot[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([label, us]) => ({ label, ms: us / 1000, percent: busyUs > 0 ? (100 * us) / busyUs : 0 }));
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    selfTop: rank(selfByKey),
    byFile: rank(selfByFile, Number.POSITIVE_INFINITY),
    ownInclusiveTop: rank(inclusive),
  };
}

export interface CostDelta {
  label: string;
  /** µs per request in `a` minus in `b`. */
  deltaUs: number;
  aUs: number;
  bUs: number;
}

/**
 * Where one process spends more per request than another, script by script: for a gateway against the minimal
 * proxy, this is its overhead broken down. Largest differences first, either sign.
 */
export function perRequestDelta(a: readonly Hotspot[], aRequests: number, b: readonly Hotspot[], bRequests: number): CostDelta[] {
  const us = (spots: readonly Hotspot[], requests: number) =>
    new Map(spots.map((s) => [s.label, (s.ms * 1000) / Math.max(1, requests)]));
  const aUs = us(a, aRequests);
  const bUs = us(b, bRequests);
  const labels = new Set([...aUs.keys(), ...bUs.keys()]);
  return [...labels]
    .map((label) => {
      const x = aUs.get(label) ?? 0;
      const y = bUs.get(label) ?? 0;
      return { label, deltaUs: x - y, aUs: x, bUs: y };
    })
    .sort((p, q) => Math.abs(q.deltaUs) - Math.abs(p.deltaUs));
}

/** One line per hotspot; with `requests` (how many the process served), also its cost per request in µs. */
export function formatHotspots(title: string, spots: readonly Hotspot[], requests?: number): string {
  const lines = [title];
  for (const s of spots) {
    const perRequest = requests ? `${((s.ms * 1000) / requests).toFixed(1).padStart(7)} µs/req` : '';
    lines.push(`  ${s.percent.toFixed(1).padStart(5)}%  ${s.ms.toFixed(0).padStart(7)} ms${perRequest}  ${s.label}`);
  }
  return lines.join('\n');
}
