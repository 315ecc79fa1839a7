/**
 * The krakend.json of `npm run bench:config`: 100 endpoints (`GET /api/e000` … `/api/e099`), each with one
 * backend, `GET /data` on the bench backend (bench/lib/backend-server.ts). `variant` sets the root `cache_ttl`
 * (seconds): a different variant is a different canonical JSON, hence a different hash and a new version.
 */
export const ENDPOINTS = 100;

export function endpointPath(i: number): string {
  return `/api/e${String(i).padStart(3, '0')}`;
}

export function krakendConfigText(backendPort: number, variant: number): string {
  return JSON.stringify(
    {
      version: 3,
      name: 'bench-config',
      timeout: '3s',
      cache_ttl: `${variant}s`,
      host: [`http://127.0.0.1:${backendPort}`],
      endpoints: Array.from({ length: ENDPOINTS }, (_, i) => ({
        endpoint: endpointPath(i),
        method: 'GET',
        backend: [{ url_pattern: '/data', method: 'GET' }],
      })),
    },
    null,
    2,
  );
}
