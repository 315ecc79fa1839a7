/**
 * The body of a Stats message (control type 76) in each protocol version. v1: `{ delta }`, the StatsDelta as a
 * MessagePack map. v2: `[stream, seq, dropped, packed]`, the entries in the packed form of src/stats/packed.ts,
 * far cheaper for the manager to decode. The sender picks the form by the version its channel negotiated; the
 * receiver tells them apart by shape (a map or an array), so either form is read whatever was negotiated.
 */
import { isStatsDelta } from '../../stats/collector.js';
import type { StatsDelta } from '../../stats/collector.js';
import { isPackedDelta, packDelta, unpackDelta } from '../../stats/packed.js';
import type { KeyTable } from '../../stats/packed.js';

/** The first control protocol version with packed stats. */
export const PACKED_STATS_VERSION = 2;

export type PackedStatsBody = [stream: string, seq: number, dropped: number, packed: Uint8Array];

export function statsBody(delta: StatsDelta, version: number): unknown {
  if (version < PACKED_STATS_VERSION) return { delta };
  const body: PackedStatsBody = [delta.stream, delta.seq, delta.dropped, packDelta(delta)];
  return body;
}

/** The registry's validator for both forms. */
export function isStatsBody(b: unknown): boolean {
  if (Array.isArray(b)) {
    return (
      b.length === 4 &&
      typeof b[0] === 'string' &&
      b[0] !== '' &&
      Number.isSafeInteger(b[1]) &&
      (b[1] as number) >= 1 &&
      Number.isSafeInteger(b[2]) &&
      (b[2] as number) >= 0 &&
      isPackedDelta(b[3])
    );
  }
  return typeof b === 'object' && b !== null && isStatsDelta((b as Record<string, unknown>)['delta']);
}

/** The delta of a validated body; `table` caches the sender's key table between its deltas. */
export function statsDeltaOf(body: unknown, table?: KeyTable): StatsDelta | undefined {
  if (!Array.isArray(body)) {
    // Only the validated fields: an `ordered` sent by a peer would be trusted by the window unchecked.
    const { stream, seq, dropped, endpoints, backends } = (body as { delta: StatsDelta }).delta;
    return { stream, seq, dropped, endpoints, backends };
  }
  const [stream, seq, dropped, packed] = body as PackedStatsBody;
  const entries = unpackDelta(packed, table);
  if (entries === undefined) return undefined;
  return { stream, seq, dropped, endpoints: entries.endpoints, backends: entries.backends, ordered: entries.ordered };
}
