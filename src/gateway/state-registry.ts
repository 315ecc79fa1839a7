/**
 * State that must outlive a config reload — token buckets, circuit breakers — keyed by a stable id (endpoint
 * `METHOD path`, backend `<endpoint id>#<index>`). A reload claims what it still uses, possibly updating its
 * settings in place; what no endpoint claimed is dropped once the new config is in service. So a reload never
 * refills every bucket or closes every open breaker at once.
 */
export class StateRegistry {
  private readonly entries = new Map<string, { value: unknown; generation: number }>();
  private generation = 0;

  /** Starts claiming for a new config. */
  begin(): void {
    this.generation++;
  }

  /**
   * The state of `kind` for `id`: the existing one (after `update`, to apply new settings without resetting it)
   * or a new one from `create`.
   */
  claim<T>(kind: string, id: string, create: () => T, update?: (existing: T) => void): T {
    const key = `${kind}\u0000${id}`;
    const entry = this.entries.get(key);
    if (entry) {
      entry.generation = this.generation;
      update?.(entry.value as T);
      return entry.value as T;
    }
    const value = create();
    this.entries.set(key, { value, generation: this.generation });
    return value;
  }

  /** Drops what the current config did not claim. Call once the new config is in service. */
  commit(): void {
    for (const [key, entry] of this.entries) if (entry.generation < this.generation) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
