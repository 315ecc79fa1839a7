import { retransmitLimit } from './formulas.js';

/**
 * The retransmit-limited broadcast queue (memberlist's TransmitLimitedQueue). Each broadcast is keyed by the
 * member it is about: newer news about a member replaces older news still queued. Packets take the least-sent
 * broadcasts first (the freshest first among equals), and a broadcast leaves the queue once it has been sent
 * `retransmitMult × ceil(log10(n + 1))` times.
 *
 * Items are kept in one bucket per transmit count, so taking a packet's worth costs the items looked at, not a
 * sort of the whole queue (a join wave at 1000 members queues about a thousand alive messages).
 */
interface Item {
  readonly key: string;
  readonly bytes: Uint8Array;
  transmits: number;
  removed: boolean;
}

const MAX_MISFITS = 16;

export class BroadcastQueue {
  private buckets: Item[][] = [[]];
  private readonly byKey = new Map<string, Item>();

  constructor(
    private readonly retransmitMult: number,
    private readonly maxItems: number,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** Queues a broadcast, replacing whatever was queued about the same key. */
  enqueue(key: string, bytes: Uint8Array): void {
    const old = this.byKey.get(key);
    if (old) old.removed = true;
    const item: Item = { key, bytes, transmits: 0, removed: false };
    this.byKey.set(key, item);
    (this.buckets[0] as Item[]).push(item);
    if (this.byKey.size > this.maxItems) this.prune(this.maxItems);
  }

  /** Drops whatever is queued about a key (a forgotten member). */
  forget(key: string): void {
    const item = this.byKey.get(key);
    if (!item) return;
    item.removed = true;
    this.byKey.delete(key);
  }

  /**
   * Broadcasts that fit in `limit` bytes, each costing its length plus `overhead`; each taken one counts one
   * transmit. `n` is the current cluster size, which sets the retransmit limit.
   */
  take(limit: number, overhead: number, n: number): Uint8Array[] {
    if (this.byKey.size === 0) return [];
    const maxTransmits = Math.max(1, retransmitLimit(this.retransmitMult, n));
    const out: Uint8Array[] = [];
    const moved: Item[] = [];
    let avail = limit;
    // Once a packet is nearly full, most items no longer fit: give up after a run of misfits rather than scan a
    // join wave's thousand queued messages for each packet.
    let misfits = 0;
    for (let t = 0; t < this.buckets.length && avail > overhead && misfits < MAX_MISFITS; t++) {
      const bucket = this.buckets[t] as Item[];
      let dead = 0;
      for (let i = bucket.length - 1; i >= 0; i--) {
        const item = bucket[i] as Item;
        if (item.removed) {
          // Taken and replaced items gather at the end, where taking starts: drop them there for good.
          if (i === bucket.length - 1) bucket.pop();
          else dead++;
          continue;
        }
        const cost = item.bytes.length + overhead;
        if (cost > avail) {
          if (++misfits >= MAX_MISFITS) break;
          continue;
        }
        avail -= cost;
        out.push(item.bytes);
        item.removed = true; // leaves this bucket; re-added to the next one below
        if (i === bucket.length - 1) bucket.pop();
        else dead++;
        moved.push(item);
        if (avail <= overhead) break;
      }
      if (dead > 0 && dead * 2 >= bucket.length) this.buckets[t] = bucket.filter((x) => !x.removed);
    }
    for (const item of moved) {
      const next: Item = { key: item.key, bytes: item.bytes, transmits: item.transmits + 1, removed: false };
      if (next.transmits >= maxTransmits) {
        this.byKey.delete(item.key);
        continue;
      }
      this.byKey.set(item.key, next);
      while (this.buckets.length <= next.transmits) this.buckets.push([]);
      (this.buckets[next.transmits] as Item[]).push(next);
    }
    return out;
  }

  /** Keeps at most `max` items, dropping the most-sent, then the oldest. */
  prune(max: number): void {
    let excess = this.byKey.size - max;
    for (let t = this.buckets.length - 1; t >= 0 && excess > 0; t--) {
      const bucket = this.buckets[t] as Item[];
      for (let i = 0; i < bucket.length && excess > 0; i++) {
        const item = bucket[i] as Item;
        if (item.removed) continue;
        item.removed = true;
        this.byKey.delete(item.key);
        excess--;
      }
      this.buckets[t] = bucket.filter((x) => !x.removed);
    }
  }

  /** Keys queued, least-sent first: for tests and diagnostics. */
  keys(): string[] {
    const out: string[] = [];
    for (const bucket of this.buckets) {
      for (let i = bucket.length - 1; i >= 0; i--) {
        const item = bucket[i] as Item;
        if (!item.removed) out.push(item.key);
      }
    }
    return out;
  }

  /** Transmit count of the item queued for a key: for tests. */
  transmitsOf(key: string): number | undefined {
    return this.byKey.get(key)?.transmits;
  }
}
