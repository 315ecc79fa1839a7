/**
 * The API token guarding the manager's write operations (and, later, views that show a config body). Given by
 * config or environment, or generated at first start into the state directory (mode 0600). A token in the file
 * can be replaced without a restart: the file is re-read when its modification time changes.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../base/atomic-file.js';

export const TOKEN_FILE = 'api-token';

export class ApiToken {
  private cached: { token: string; mtimeMs: number } | undefined;

  private constructor(
    private readonly fixed: string | undefined,
    private readonly file: string,
  ) {}

  /** A configured token wins; otherwise the state directory's, created on first start. */
  static async open(stateDir: string, configured: string | undefined): Promise<ApiToken> {
    const file = join(stateDir, TOKEN_FILE);
    if (configured === undefined) {
      try {
        await readFile(file, 'utf8');
      } catch {
        await mkdir(stateDir, { recursive: true, mode: 0o700 });
        await writeFileAtomic(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
      }
    }
    return new ApiToken(configured, file);
  }

  get path(): string {
    return this.file;
  }

  current(): string | undefined {
    if (this.fixed !== undefined) return this.fixed;
    try {
      const { mtimeMs } = statSync(this.file);
      if (!this.cached || this.cached.mtimeMs !== mtimeMs) {
        this.cached = { token: readFileSync(this.file, 'utf8').trim(), mtimeMs };
      }
      return this.cached.token || undefined;
    } catch {
      return undefined;
    }
  }

  /** Checks an `Authorization: Bearer …` header in constant time. */
  verify(header: string | undefined): boolean {
    const token = this.current();
    if (!token || !header) return false;
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!m) return false;
    const given = Buffer.from(m[1] as string);
    const want = Buffer.from(token);
    return given.length === want.length && timingSafeEqual(given, want);
  }
}
