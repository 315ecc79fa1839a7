/**
 * The node's identity on disk: the id the manager assigned (`krakend_<uuid>`), kept in the state directory so a
 * restarted or rejoining node is the same node. Written crash-safely; a damaged file is ignored (the manager
 * then assigns a new id) rather than trusted.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../base/atomic-file.js';

const ID_FILE = 'node-id';
const ID_PATTERN = /^krakend_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isNodeId(value: string): boolean {
  return ID_PATTERN.test(value);
}

export async function readNodeId(stateDir: string): Promise<string | undefined> {
  try {
    const text = (await readFile(join(stateDir, ID_FILE), 'utf8')).trim();
    return isNodeId(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

export async function writeNodeId(stateDir: string, id: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(join(stateDir, ID_FILE), `${id}\n`, { mode: 0o600 });
}
