/**
 * The compact wire form of a stats delta (control protocol v2; v1 sends the StatsDelta object as MessagePack).
 *
 * At 1,000 nodes the manager decodes 200 deltas a second of ~100 entries each. As MessagePack maps, every entry
 * repeated its field names and every number went through the generic decoder, which made decoding the largest
 * part of the manager's CPU and garbage. Here a delta is one byte string read by a tight loop:
 *
 * ```
 * uv  endpoint count E, backend count B
 * E+B keys, endpoints first: uv byte length, UTF-8 bytes         (the key table: usually identical every delta)
 * E   entries: common, then counter rateLimited
 * B   entries: common, then counters errors, timeouts, then u8 circuit (0 none, 1 closed, 2 open, 3 half-open)
 * common = 6 × uv status counts, counter bytesIn, counter bytesOut,
 *          uv latency count n, f64 sum, (f64 lo, f64 hi when n > 0), uv pair count P, P × (uv gap, uv count)
 * ```
 * `uv` is an unsigned LEB128 varint of a safe integer; `f64` is little-endian; a `counter` is uv(2x) for a
 * safe integer x, or uv(1) followed by an f64 for any other finite value (counters need not be integers).
 *
 * The reader validates as it goes (bounds, safe integers, buckets ascending and in range, pair counts adding up
 * to n, finite non-negative counters, nothing left over) and can skip building objects, so the same code is the
 * registry's validator and the decoder. A KeyTable remembers one sender's last key table: when the bytes are the
 * same as last time (a memcmp), the strings are reused instead of decoded again, and so are the entry objects.
 */
import { BUCKETS } from './histogram.js';
import type { HistogramJson } from './histogram.js';
import type { BackendDelta, CircuitState, EndpointDelta, OrderedEntries, StatsDelta, StatusCounts } from './collector.js';

const CIRCUITS: readonly (CircuitState | undefined)[] = [undefined, 'closed', 'open', 'half-open'];
/** More entries than any gateway has endpoints and backends: a bound for a hostile count. */
const MAX_ENTRIES = 1 << 20;
const MAX_KEY_BYTES = 4096;

/** Growable byte writer. */
class Writer {
  buf = Buffer.allocUnsafe(4096);
  len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  uv(x: number): void {
    this.room(8);
    let v = x;
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  f64(x: number): void {
    this.room(8);
    this.buf.writeDoubleLE(x, this.len);
    this.len += 8;
  }

  u8(x: number): void {
    this.room(1);
    this.buf[this.len++] = x;
  }

  counter(x: number): void {
    if (Number.isSafeInteger(x) && x >= 0 && x <= Number.MAX_SAFE_INTEGER / 2) {
      this.uv(x * 2);
    } else {
      this.uv(1);
      this.f64(x);
    }
  }

  bytes(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }
}

function writeHistogram(w: Writer, h: HistogramJson): void {
  w.uv(h.n);
  w.f64(h.s);
  if (h.n > 0) {
    w.f64(h.lo ?? 0);
    w.f64(h.hi ?? 0);
  }
  w.uv(h.b.length / 2);
  for (let k = 0; k < h.b.length; k++) w.uv(h.b[k]!);
}

function writeCommon(w: Writer, e: EndpointDelta | BackendDelta): void {
  for (let i = 0; i < 6; i++) w.uv(e.status[i]!);
  w.counter(e.bytesIn);
  w.counter(e.bytesOut);
  writeHistogram(w, e.latency);
}

/** The packed bytes of a delta's entries (stream, seq and dropped travel beside them). */
export function packDelta(delta: StatsDelta): Uint8Array {
  const w = new Writer();
  const eKeys = Object.keys(delta.endpoints);
  const bKeys = Object.keys(delta.backends);
  w.uv(eKeys.length);
  w.uv(bKeys.length);
  for (const k of eKeys) {
    const b = Buffer.from(k, 'utf8');
    w.uv(b.length);
    w.bytes(b);
  }
  for (const k of bKeys) {
    const b = Buffer.from(k, 'utf8');
    w.uv(b.length);
    w.bytes(b);
  }
  for (const k of eKeys) {
    const e = delta.endpoints[k]!;
    writeCommon(w, e);
    w.counter(e.rateLimited);
  }
  for (const k of bKeys) {
    const b = delta.backends[k]!;
    writeCommon(w, b);
    w.counter(b.errors);
    w.counter(b.timeouts);
    w.u8(b.circuit === undefined ? 0 : CIRCUITS.indexOf(b.circuit));
  }
  return w.buf.subarray(0, w.len);
}

/**
 * The last key table seen (of one sender, or of all: nodes running one config send the same table), so that an
 * unchanged table is not decoded again; and the entry objects of the last delta, overwritten by the next one while
 * the table stays the same (no garbage per delta). So a delta unpacked with a KeyTable is valid until the next
 * unpack with that table: a consumer copies what it keeps.
 */
export class KeyTable {
  private bytes: Buffer | undefined;
  keys: string[] = [];
  /** Entries of the last delta read with the current keys, in key order. */
  reusable: { delta: UnpackedEntries; endpoints: EndpointDelta[]; backends: BackendDelta[] } | undefined;

  /** Whether `raw` (the table's bytes) differs from the last one; when it does, `decode` sets the new keys. */
  update(raw: Uint8Array, decode: () => string[]): boolean {
    const view = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    if (this.bytes !== undefined && this.bytes.equals(view)) return false;
    this.keys = decode();
    this.reusable = undefined;
    // A copy: the frame's buffer is not ours to keep.
    this.bytes = Buffer.from(view);
    return true;
  }
}

/** Thrown inside the reader only; never escapes it. */
class Malformed extends Error {}
const MALFORMED = new Malformed('malformed packed delta');

class Reader {
  pos = 0;
  readonly view: DataView;
  constructor(readonly b: Uint8Array) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  uv(): number {
    const b = this.b;
    let x = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= b.length || scale > 2 ** 49) throw MALFORMED;
      const byte = b[this.pos++]!;
      x += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
    }
    if (x > Number.MAX_SAFE_INTEGER) throw MALFORMED;
    return x;
  }

  f64(): number {
    if (this.pos + 8 > this.b.length) throw MALFORMED;
    const x = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    if (!Number.isFinite(x)) throw MALFORMED;
    return x;
  }

  counter(): number {
    const v = this.uv();
    if (v === 1) {
      const x = this.f64();
      if (x < 0) throw MALFORMED;
      return x;
    }
    if (v % 2 !== 0) throw MALFORMED;
    return v / 2;
  }
}

/** Reads the fields common to endpoints and backends, into `t` when given (else only validates). */
function readCommon(r: Reader, t: EndpointDelta | BackendDelta | undefined): void {
  const s0 = r.uv(), s1 = r.uv(), s2 = r.uv(), s3 = r.uv(), s4 = r.uv(), s5 = r.uv();
  const bytesIn = r.counter();
  const bytesOut = r.counter();
  const n = r.uv();
  // The doubles are read here rather than through r.f64(): readCommon is too large for V8 to inline that call,
  // and a double returned by a call is boxed (a HeapNumber each: ~60,000 a second of garbage at 1,000 nodes).
  const view = r.view;
  const end = r.b.length;
  if (r.pos + (n > 0 ? 24 : 8) > end) throw MALFORMED;
  const s = view.getFloat64(r.pos, true);
  r.pos += 8;
  let lo = 0;
  let hi = 0;
  if (n > 0) {
    lo = view.getFloat64(r.pos, true);
    hi = view.getFloat64(r.pos + 8, true);
    r.pos += 16;
  }
  if (!Number.isFinite(s) || !Number.isFinite(lo) || !Number.isFinite(hi)) throw MALFORMED;
  const pairs = r.uv();
  if (pairs > BUCKETS) throw MALFORMED;
  const b = t?.latency.b;
  // Setting an array's length is slow in V8 even to the same value: only when it changes.
  if (b !== undefined && b.length !== pairs * 2) b.length = pairs * 2;
  let index = -1;
  let total = 0;
  for (let k = 0; k < pairs; k++) {
    const gap = r.uv();
    const c = r.uv();
    index += gap;
    if (gap < 1 || index >= BUCKETS) throw MALFORMED;
    total += c;
    if (b !== undefined) {
      b[2 * k] = gap;
      b[2 * k + 1] = c;
    }
  }
  if (total !== n) throw MALFORMED;
  if (t === undefined) return;
  const st = t.status;
  st[0] = s0;
  st[1] = s1;
  st[2] = s2;
  st[3] = s3;
  st[4] = s4;
  st[5] = s5;
  t.bytesIn = bytesIn;
  t.bytesOut = bytesOut;
  const lat = t.latency;
  lat.n = n;
  lat.s = s;
  if (n > 0) {
    lat.lo = lo;
    lat.hi = hi;
  } else if (lat.lo !== undefined) {
    delete lat.lo;
    delete lat.hi;
  }
}

function newEndpoint(): EndpointDelta {
  return { status: [0, 0, 0, 0, 0, 0], latency: { n: 0, s: 0, b: [] }, bytesIn: 0, bytesOut: 0, rateLimited: 0 };
}

function newBackend(): BackendDelta {
  return { status: [0, 0, 0, 0, 0, 0], latency: { n: 0, s: 0, b: [] }, bytesIn: 0, bytesOut: 0, errors: 0, timeouts: 0 };
}

const PROTO = Buffer.from('__proto__');

/** A `__proto__` key would set the prototype of the entries object: refused, as the MessagePack decoder does. */
function isProto(b: Uint8Array, at: number, len: number): boolean {
  if (len !== PROTO.length) return false;
  for (let i = 0; i < len; i++) if (b[at + i] !== PROTO[i]) return false;
  return true;
}

function readKeys(r: Reader, count: number): string[] {
  const keys = new Array<string>(count);
  const buf = Buffer.from(r.b.buffer, r.b.byteOffset, r.b.byteLength);
  for (let i = 0; i < count; i++) {
    const len = r.uv();
    if (len > MAX_KEY_BYTES || r.pos + len > r.b.length || isProto(r.b, r.pos, len)) throw MALFORMED;
    keys[i] = buf.toString('utf8', r.pos, r.pos + len);
    r.pos += len;
  }
  return keys;
}

function skipKeys(r: Reader, count: number): void {
  for (let i = 0; i < count; i++) {
    const len = r.uv();
    if (len > MAX_KEY_BYTES || r.pos + len > r.b.length || isProto(r.b, r.pos, len)) throw MALFORMED;
    r.pos += len;
  }
}

/** A delta's entries, by key and in key order (the order's arrays are the same objects while the table is). */
export type UnpackedEntries = Pick<StatsDelta, 'endpoints' | 'backends'> & { ordered: OrderedEntries };

function read(bytes: Uint8Array, build: boolean, table: KeyTable | undefined): UnpackedEntries | undefined {
  const r = new Reader(bytes);
  const ne = r.uv();
  const nb = r.uv();
  if (ne + nb > MAX_ENTRIES) throw MALFORMED;
  let keys: string[] | undefined;
  const keysAt = r.pos;
  if (!build) {
    skipKeys(r, ne + nb);
  } else if (table === undefined) {
    keys = readKeys(r, ne + nb);
  } else {
    // Find the table's end first (cheap), then decode it only if it changed.
    skipKeys(r, ne + nb);
    const end = r.pos;
    table.update(bytes.subarray(keysAt, end), () => {
      const kr = new Reader(bytes);
      kr.pos = keysAt;
      return readKeys(kr, ne + nb);
    });
    keys = table.keys;
  }
  // The last delta's objects when the table is unchanged: overwritten field by field.
  const reuse = table?.reusable;
  const eList: EndpointDelta[] = reuse?.endpoints ?? [];
  const bList: BackendDelta[] = reuse?.backends ?? [];
  const endpoints: Record<string, EndpointDelta> = reuse?.delta.endpoints ?? {};
  const backends: Record<string, BackendDelta> = reuse?.delta.backends ?? {};
  for (let i = 0; i < ne; i++) {
    let e: EndpointDelta | undefined;
    if (build) {
      e = reuse ? eList[i]! : newEndpoint();
      if (!reuse) {
        eList.push(e);
        endpoints[keys![i]!] = e;
      }
    }
    readCommon(r, e);
    const rateLimited = r.counter();
    if (e !== undefined) e.rateLimited = rateLimited;
  }
  for (let i = 0; i < nb; i++) {
    let d: BackendDelta | undefined;
    if (build) {
      d = reuse ? bList[i]! : newBackend();
      if (!reuse) {
        bList.push(d);
        backends[keys![ne + i]!] = d;
      }
    }
    readCommon(r, d);
    const errors = r.counter();
    const timeouts = r.counter();
    if (r.pos >= bytes.length) throw MALFORMED;
    const code = bytes[r.pos++]!;
    if (code >= CIRCUITS.length) throw MALFORMED;
    if (d !== undefined) {
      d.errors = errors;
      d.timeouts = timeouts;
      const circuit = CIRCUITS[code];
      if (circuit !== undefined) d.circuit = circuit;
      else if (d.circuit !== undefined) delete d.circuit;
    }
  }
  if (r.pos !== bytes.length) throw MALFORMED;
  if (!build) return undefined;
  const delta = reuse?.delta ?? { endpoints, backends, ordered: { keys: keys!, endpoints: eList, backends: bList } };
  if (table !== undefined && reuse === undefined) table.reusable = { delta, endpoints: eList, backends: bList };
  return delta;
}

/** Whether packed bytes are well-formed (the validator: no objects built). */
export function isPackedDelta(bytes: unknown): bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) return false;
  try {
    read(bytes, false, undefined);
    return true;
  } catch (err) {
    if (err instanceof Malformed) return false;
    throw err;
  }
}

/** The entries of packed bytes, or undefined when malformed. `table`: the sender's key table cache. */
export function unpackDelta(bytes: Uint8Array, table?: KeyTable): UnpackedEntries | undefined {
  try {
    return read(bytes, true, table);
  } catch (err) {
    if (err instanceof Malformed) return undefined;
    throw err;
  }
}
