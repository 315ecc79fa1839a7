/**
 * The thin join between the pure NodeRegistry and a Store: load the registry at start, persist its changes.
 *
 * Typical admission, atomic in memory and durable before the node hears back:
 * ```ts
 * const result = registry.admit(request, clock.now(), { maxNodes: keeper.effectiveMaxNodes(), managerVersion });
 * try {
 *   await persistRegistryChanges(store, result.changes);
 * } catch (err) {
 *   if (result.undo) registry.undo(result.undo);   // memory must not run ahead of the disk
 *   throw err;                                       // the node gets an error and retries
 * }
 * // now answer `welcome` or `refused`
 * ```
 */
import { NODE_KEY_PREFIX, NodeRegistry, nodeKey } from './registry.js';
import type { RegistryChange, RegistryOptions } from './registry.js';
import type { Store } from './store.js';

/**
 * Writes registry changes, in order. Unconditional puts are right here: the registry is the only writer of node
 * records, and a Store applies writes in the order they are issued, so the last change issued wins.
 * All writes are issued before any is awaited, so they share one group commit.
 */
export async function persistRegistryChanges(store: Store, changes: readonly RegistryChange[]): Promise<void> {
  await Promise.all(
    changes.map((c) => (c.kind === 'put' ? store.put(nodeKey(c.id), c.record) : store.delete(nodeKey(c.id)))),
  );
}

/** Rebuilds the registry from the store's node records (see NodeRegistry.fromRecords for what `now` does). */
export async function loadRegistry(
  store: Store,
  now: number,
  options: RegistryOptions = {},
): Promise<{ registry: NodeRegistry; problems: string[] }> {
  const entries = await store.list(NODE_KEY_PREFIX);
  return NodeRegistry.fromRecords(
    entries.map((e) => e.value),
    now,
    options,
  );
}
