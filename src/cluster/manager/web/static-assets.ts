/**
 * The web interface's files, served from disk from a fixed allow-list (anything else is a 404, so no path can
 * reach outside it): the page, its script and style under src/cluster/manager/web/assets (plain files, not
 * compiled, found from this module's location in src/ or dist/), and uPlot from wherever npm installed it.
 * Files are read once and kept in memory with an ETag; the browser revalidates them (`no-cache`), so an upgrade
 * is seen on the next load.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Asset {
  path: string;
  type: string;
}

interface Loaded {
  body: Buffer;
  etag: string;
  type: string;
}

const ASSETS_RELATIVE = join('src', 'cluster', 'manager', 'web', 'assets');

/** The assets directory: found by walking up from this module (dist/src/… or src/…) to the package root. */
export function assetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, ASSETS_RELATIVE);
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`the web interface's files (${ASSETS_RELATIVE}) are missing from the package`);
}

function uplotDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
}

export class StaticAssets {
  private readonly allowed: ReadonlyMap<string, Asset>;
  private readonly cache = new Map<string, Loaded>();

  constructor() {
    const own = assetsDir();
    const uplot = uplotDir();
    this.allowed = new Map<string, Asset>([
      ['index.html', { path: join(own, 'index.html'), type: 'text/html; charset=utf-8' }],
      ['app.js', { path: join(own, 'app.js'), type: 'text/javascript; charset=utf-8' }],
      ['ui.js', { path: join(own, 'ui.js'), type: 'text/javascript; charset=utf-8' }],
      ['charts.js', { path: join(own, 'charts.js'), type: 'text/javascript; charset=utf-8' }],
      ['node-detail.js', { path: join(own, 'node-detail.js'), type: 'text/javascript; charset=utf-8' }],
      ['app.css', { path: join(own, 'app.css'), type: 'text/css; charset=utf-8' }],
      ['favicon.svg', { path: join(own, 'favicon.svg'), type: 'image/svg+xml' }],
      ['uPlot.iife.min.js', { path: join(uplot, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' }],
      ['uPlot.min.css', { path: join(uplot, 'uPlot.min.css'), type: 'text/css; charset=utf-8' }],
    ]);
  }

  /** Answers with the named file, 304 when the browser's copy is current, 404 for a name not on the list. */
  serve(name: string, req: IncomingMessage, res: ServerResponse): void {
    const asset = this.allowed.get(name);
    const loaded = asset ? this.load(name, asset) : undefined;
    if (!loaded) {
      const text = JSON.stringify({ error: 'not found' });
      res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    const headers = {
      ETag: loaded.etag,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      // Everything the page needs comes from the manager itself; nothing inline runs.
      'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'",
      'Referrer-Policy': 'no-referrer',
    };
    if (req.headers['if-none-match'] === loaded.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': loaded.type, 'Content-Length': loaded.body.length });
    res.end(req.method === 'HEAD' ? undefined : loaded.body);
  }

  private load(name: string, asset: Asset): Loaded | undefined {
    let loaded = this.cache.get(name);
    if (loaded === undefined) {
      let body: Buffer;
      try {
        body = readFileSync(asset.path);
      } catch {
        return undefined;
      }
      loaded = { body, type: asset.type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
      this.cache.set(name, loaded);
    }
    return loaded;
  }
}
