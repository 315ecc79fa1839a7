/**
 * The bench's reading side of the manager's JSON API: one keep-alive connection pool, every call timed from the
 * request sent to the last byte of the answer, every call bounded by a timeout.
 */
import { Pool } from 'undici';

export interface Timed<T> {
  ms: number;
  body: T;
}

export class ApiClient {
  private readonly pool: Pool;

  constructor(readonly port: number) {
    this.pool = new Pool(`http://127.0.0.1:${port}`, { connections: 2, keepAliveTimeout: 60_000 });
  }

  async get<T>(path: string, timeoutMs = 10_000): Promise<Timed<T>> {
    const started = performance.now();
    const res = await this.pool.request({ method: 'GET', path, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const text = await res.body.text();
    const ms = performance.now() - started;
    if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode} ${text.slice(0, 300)}`);
    return { ms, body: JSON.parse(text) as T };
  }

  /** A text resource (e.g. /metrics), untimed. */
  async text(path: string, timeoutMs = 10_000): Promise<string> {
    const res = await this.pool.request({ method: 'GET', path, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode} ${text.slice(0, 300)}`);
    return text;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** The fields of `GET /api/v1/overview` the bench checks. */
export interface OverviewBody {
  nodes: Record<string, number>;
  requests: number;
  rps: number;
  p99_us: number | null;
}
