import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../../src/gateway/gateway.js';
import { memoryLogger } from '../../../src/base/logger.js';
import { parseConfigText } from '../../../src/gateway/config/load.js';
import { formatIssues } from '../../../src/gateway/config/format-issues.js';
import { nodeTelemetry } from '../../../src/gateway/telemetry/prometheus-exporter.js';
import { startBackend, json } from '../../helpers/backend.js';
import { loadConfig } from '../../helpers/gateway.js';
import { NODE_CLI, startManager, startNode, startProcess, tempDir, waitFor } from '../../helpers/cluster.js';

const NS = 'telemetry/opentelemetry';

function withTelemetry(backendUrl: string, exporter: Record<string, unknown>): string {
  return JSON.stringify({
    version: 3,
    host: [backendUrl],
    extra_config: { [NS]: { service_name: 'test', exporters: { prometheus: [{ name: 'local', port: 0, listen_ip: '127.0.0.1', ...exporter }] } } },
    endpoints: [
      { endpoint: '/ok', backend: [{ url_pattern: '/ok' }] },
      { endpoint: '/missing', backend: [{ url_pattern: '/missing' }] },
      {
        endpoint: '/fail',
        backend: [{ url_pattern: '/fail', extra_config: { 'qos/circuit-breaker': { interval: 60, timeout: 60, max_errors: 1 } } }],
      },
      { endpoint: '/limited', backend: [{ url_pattern: '/ok' }], extra_config: { 'qos/ratelimit/router': { max_rate: 1, capacity: 1 } } },
    ],
  });
}

/** `name{labels} value` lines of a scrape, as a map from the text before the value to the value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

test('a gateway with a prometheus exporter serves per endpoint and backend counts, latencies, rejections and breaker states on /metrics', async () => {
  const backend = await startBackend({ '/ok': json({ ok: true }), '/fail': json({ error: true }, 500) });
  const config = loadConfig(withTelemetry(backend.url, {}));
  const telemetry = nodeTelemetry(config, 'test');
  assert.ok(telemetry, 'the namespace with a prometheus exporter turns telemetry on');
  const { logger } = memoryLogger();
  const gateway = new Gateway(config, { logger, port: 0, host: '127.0.0.1', stats: telemetry.stats });
  const { port } = await gateway.start();
  const exporters = telemetry.exporters(logger);
  const [bound] = await exporters.start();
  try {
    const api = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 3; i++) await get(`${api}/ok`);
    await get(`${api}/missing`);
    for (let i = 0; i < 3; i++) await get(`${api}/fail`);
    assert.equal((await get(`${api}/limited`)).status, 200);
    // KrakenD answers an endpoint limit with 503.
    assert.equal((await get(`${api}/limited`)).status, 503);
    // A delta taken (as the cluster agent does every interval) must not reset what Prometheus sees.
    telemetry.stats.takeDelta();
    await get(`${api}/ok`);

    const scrape = await get(`http://127.0.0.1:${bound!.port}/metrics`);
    assert.equal(scrape.status, 200);
    const m = samples(scrape.text);
    assert.equal(m.get('krakend_endpoint_requests_total{method="GET",endpoint="/ok",status_class="2xx"}'), 4);
    assert.equal(m.get('krakend_backend_requests_total{method="GET",endpoint="/ok",backend="0",status_class="2xx"}'), 4);
    assert.equal(m.get('krakend_backend_requests_total{method="GET",endpoint="/limited",backend="0",status_class="2xx"}'), 1, 'the refused request never reached it');
    // A backend's 404 is a failed call to the gateway (KrakenD answers the client 500 without a body to merge).
    assert.equal(m.get('krakend_backend_errors_total{method="GET",endpoint="/missing",backend="0"}'), 1);
    assert.equal(m.get('krakend_endpoint_requests_total{method="GET",endpoint="/missing",status_class="5xx"}'), 1);
    assert.equal(m.get('krakend_endpoint_rate_limited_total{method="GET",endpoint="/limited"}'), 1);
    assert.equal(m.get('krakend_endpoint_duration_seconds_count{method="GET",endpoint="/ok"}'), 4);
    assert.equal(m.get('krakend_endpoint_duration_seconds_bucket{method="GET",endpoint="/ok",le="+Inf"}'), 4);
    assert.ok((m.get('krakend_endpoint_duration_seconds_sum{method="GET",endpoint="/ok"}') ?? 0) > 0);
    // Buckets are cumulative and end at the count.
    const buckets = [...m].filter(([k]) => k.startsWith('krakend_endpoint_duration_seconds_bucket{method="GET",endpoint="/ok"')).map(([, v]) => v);
    assert.ok(buckets.length > 10);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]! >= buckets[i - 1]!, 'cumulative buckets never decrease');
    // The breaker opened after the first failure: two calls reached the backend, the third failed fast.
    assert.equal(m.get('krakend_backend_circuit_breaker_state{method="GET",endpoint="/fail",backend="0",state="open"}'), 1);
    assert.equal(m.get('krakend_backend_circuit_breaker_state{method="GET",endpoint="/fail",backend="0",state="closed"}'), 0);
    assert.equal(m.get('krakend_endpoint_requests_total{method="GET",endpoint="/fail",status_class="5xx"}'), 3);
    assert.equal([...m.keys()].some((k) => k.startsWith('process_')), false, 'no process metrics unless asked for');
    assert.equal((await get(`http://127.0.0.1:${bound!.port}/other`)).status, 404);
  } finally {
    await exporters.close();
    await gateway.shutdown({ delay: 0, drainTimeout: 1000 });
    await backend.close();
  }
});

test('process_metrics adds the process and Node.js runtime metrics', async () => {
  const backend = await startBackend({ '/ok': json({ ok: true }) });
  const config = loadConfig(withTelemetry(backend.url, { process_metrics: true }));
  const telemetry = nodeTelemetry(config, 'test')!;
  const { logger } = memoryLogger();
  const exporters = telemetry.exporters(logger);
  const [bound] = await exporters.start();
  try {
    const text = (await get(`http://127.0.0.1:${bound!.port}/metrics`)).text;
    assert.match(text, /^process_cpu_user_seconds_total \d/m);
    assert.match(text, /^process_resident_memory_bytes \d/m);
  } finally {
    await exporters.close();
    await backend.close();
  }
});

test('a bad prometheus exporter is a config error naming its JSON path; other exporters and settings are warnings', () => {
  const bad = parseConfigText(withTelemetry('http://127.0.0.1:9', { port: 70000, listen_ip: 'localhost' }), 'krakend.json');
  assert.equal(bad.config, undefined);
  const text = formatIssues(bad.issues);
  assert.match(text, /krakend\.json: extra_config: "telemetry\/opentelemetry"\.exporters\.prometheus\[0\]\.port: expected an integer port in 0\.\.65535 .*got 70000/);
  assert.match(text, /exporters\.prometheus\[0\]\.listen_ip: expected an IPv4 or IPv6 address/);

  const noName = parseConfigText(
    JSON.stringify({ version: 3, extra_config: { [NS]: { exporters: { prometheus: [{ port: 9090 }] } } }, endpoints: [] }),
    'krakend.json',
  );
  assert.match(formatIssues(noName.issues), /exporters\.prometheus\[0\]\.name: required/);

  const others = parseConfigText(
    JSON.stringify({
      version: 3,
      extra_config: { [NS]: { trace_sample_rate: 0.5, exporters: { otlp: [{ name: 'collector', host: 'otel' }], prometheus: [{ name: 'p', port: 9091 }] } } },
      endpoints: [],
    }),
    'krakend.json',
  );
  assert.ok(others.config, formatIssues(others.issues));
  assert.ok(others.warnings.some((w) => /exporters\.otlp: only the prometheus exporter is implemented/.test(w)), others.warnings.join('\n'));
  assert.ok(others.warnings.some((w) => /trace_sample_rate is not implemented/.test(w)));
  assert.equal(others.warnings.some((w) => /telemetry\/opentelemetry" is not implemented/.test(w)), false, 'the namespace itself is known');
  assert.equal(nodeTelemetry(others.config, 's')?.config.prometheus[0]?.port, 9091);
});

test('without the namespace, or without a prometheus exporter, a node has no telemetry', () => {
  assert.equal(nodeTelemetry(loadConfig(JSON.stringify({ version: 3, endpoints: [] })), 's'), undefined);
  const otlpOnly = loadConfig(JSON.stringify({ version: 3, extra_config: { [NS]: { exporters: { otlp: [] } } }, endpoints: [] }));
  assert.equal(nodeTelemetry(otlpOnly, 's'), undefined);
});

test('the krakend CLI serves /metrics on the exporter port, standalone', async () => {
  const backend = await startBackend({ '/ok': json({ ok: true }) });
  const dir = tempDir('telemetry-cli-');
  const file = join(dir, 'krakend.json');
  writeFileSync(file, withTelemetry(backend.url, {}));
  const node = startProcess(NODE_CLI, ['run', '-c', file, '-p', '0', '--service', join(dir, 'absent.yml')]);
  try {
    const apiPort = Number((await waitFor('the API to listen', () => /Listening on port: (\d+)/.exec(node.output()), 15_000))[1]);
    const metricsPort = Number(
      (await waitFor('the exporter to listen', () => /Prometheus exporter "local" serving \/metrics on 127\.0\.0\.1:(\d+)/.exec(node.output()), 15_000))[1],
    );
    for (let i = 0; i < 2; i++) await get(`http://127.0.0.1:${apiPort}/ok`);
    const m = samples((await get(`http://127.0.0.1:${metricsPort}/metrics`)).text);
    assert.equal(m.get('krakend_endpoint_requests_total{method="GET",endpoint="/ok",status_class="2xx"}'), 2, node.output());
    assert.equal([...m.keys()].some((k) => k.startsWith('krakend_cluster_')), false, 'no cluster metrics standalone');
  } finally {
    assert.equal(await node.stop(), 0, node.output());
    await backend.close();
  }
});

test('the krakend CLI refuses to start when the exporter port is taken, and says which exporter', async () => {
  const dir = tempDir('telemetry-cli-');
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  const taken = (blocker.address() as { port: number }).port;
  const file = join(dir, 'krakend.json');
  writeFileSync(file, withTelemetry('http://127.0.0.1:9', { port: taken }));
  const node = startProcess(NODE_CLI, ['run', '-c', file, '-p', '0', '--service', join(dir, 'absent.yml')]);
  try {
    const code = await node.exited;
    assert.equal(code, 1);
    assert.match(node.output(), new RegExp(`prometheus exporter "local" cannot listen on 127\\.0\\.0\\.1:${taken}`));
  } finally {
    await node.stop();
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});

test('in cluster mode the node also exports its id, its manager connection state and its leases', async () => {
  const backend = await startBackend({ '/ok': json({ ok: true }) });
  const manager = await startManager();
  const config = JSON.parse(withTelemetry(backend.url, {})) as { endpoints: Record<string, unknown>[] };
  // A cluster-wide limit, so the manager leases this node a share of it.
  config.endpoints[0]!['extra_config'] = { 'qos/ratelimit/router': { max_rate: 100, capacity: 100 } };
  const node = await startNode({ seed: `127.0.0.1:${manager.clusterPort}`, krakendJson: JSON.stringify(config) });
  try {
    const metricsPort = Number(
      (await waitFor('the exporter to listen', () => /Prometheus exporter "local" serving \/metrics on 127\.0\.0\.1:(\d+)/.exec(node.output()), 15_000))[1],
    );
    const m = await waitFor(
      'the node admitted with a lease',
      async () => {
        const s = samples((await get(`http://127.0.0.1:${metricsPort}/metrics`)).text);
        // A fresh manager leases nothing for one lease length (it first learns what is outstanding), then a share.
        const leased = [...s].some(([k, v]) => k.startsWith('krakend_cluster_lease_rate{') && v > 0);
        return s.get('krakend_cluster_manager_state{state="admitted"}') === 1 && leased ? s : undefined;
      },
      20_000,
      100,
    );
    const [admitted] = await manager.nodes();
    assert.equal(m.get(`krakend_cluster_node_info{node_id="${String(admitted?.['id'])}"}`), 1);
    assert.equal(m.get('krakend_cluster_manager_state{state="connecting"}'), 0);
    const rate = [...m].find(([k]) => k.startsWith('krakend_cluster_lease_rate{'))?.[1] ?? -1;
    assert.ok(rate > 0 && rate <= 100, `a share of the cluster-wide 100/s: ${rate}`);
  } finally {
    assert.equal(await node.stop(), 0, node.output());
    await manager.stop();
    await backend.close();
  }
});
