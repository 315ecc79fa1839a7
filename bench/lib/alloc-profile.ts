/**
 * Reads a V8 sampling heap profile (HeapProfiler.stopSampling, taken with the collected objects included) and
 * ranks the allocating functions by bytes: where the garbage a collector has to chase comes from. Each function's
 * own allocations only, and the project's functions with what they allocate through their callees.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface AllocNode {
  id: number;
  callFrame: CallFrame;
  selfSize: number;
  children: AllocNode[];
}

export interface AllocSpot {
  label: string;
  bytes: number;
  percent: number;
}

export interface AllocSummary {
  totalBytes: number;
  selfTop: AllocSpot[];
  ownInclusiveTop: AllocSpot[];
}

export function summariseAllocProfile(file: string, options: { root: string; ownCode: string; top?: number }): AllocSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: AllocNode };
  const top = options.top ?? 20;
  const shortUrl = (url: string) => {
    const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
    return path.startsWith(options.root) ? path.slice(options.root.length).replace(/^\//, '') : path;
  };
  const keyOf = (f: CallFrame) => `${f.functionName || '(anonymous)'}${f.url ? ` (${shortUrl(f.url)}:${f.lineNumber + 1})` : ''}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const onStack = new Map<string, number>();
  let total = 0;
  // Returns the subtree's bytes; the depth of a profile's tree is the depth of the JS stack (bounded).
  const walk = (node: AllocNode): number => {
    const key = keyOf(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    onStack.set(key, (onStack.get(key) ?? 0) + 1);
    let sum = node.selfSize;
    for (const c of node.children) sum += walk(c);
    onStack.set(key, (onStack.get(key) as number) - 1);
    if (node.callFrame.url.includes(options.ownCode) && !onStack.get(key)) inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
    return sum;
  };
  walk(profile.head);
  const rank = (m: Map<string, number>): AllocSpot[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([label, bytes]) => ({ label, bytes, percent: total > 0 ? (100 * bytes) / total : 0 }));
  return { totalBytes: total, selfTop: rank(self), ownInclusiveTop: rank(inclusive) };
}

export function formatAllocSpots(title: string, spots: readonly AllocSpot[], perSecond: number): string {
  const lines = spots.map((s) => `  ${s.percent.toFixed(1).padStart(5)}%  ${((s.bytes / perSecond) / 1024).toFixed(0).padStart(7)} KiB/s  ${s.label}`);
  return [title, ...lines].join('\n');
}
