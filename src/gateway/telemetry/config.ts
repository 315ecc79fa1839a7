/**
 * The service-level `telemetry/opentelemetry` namespace, as KrakenD CE reads it (krakend-otel), of which this
 * project implements the pull side: each item of `exporters.prometheus` makes the node serve Prometheus
 * `/metrics` on its own port.
 *
 *   "telemetry/opentelemetry": {
 *     "service_name": "krakend_prometheus_service",
 *     "exporters": { "prometheus": [ { "name": "local_prometheus", "port": 9090, "listen_ip": "0.0.0.0",
 *                                      "process_metrics": true, "go_metrics": false } ] }
 *   }
 *
 * `name` is required and unique, `port` defaults to 9090 (0 picks a free port), `listen_ip` to every interface.
 * Other exporters (`otlp`) and the tracing settings are not implemented: warned about, never silently dropped.
 */
import { isIP } from 'node:net';
import type { ExtraConfig } from '../config/types.js';
import { isJsonObject } from '../json/types.js';
import type { JsonValue } from '../json/types.js';

export const TELEMETRY_NAMESPACE = 'telemetry/opentelemetry';
export const DEFAULT_PROMETHEUS_PORT = 9090;

export interface PrometheusExporter {
  readonly name: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly listenIp: string;
  readonly processMetrics: boolean;
}

export interface TelemetryConfig {
  readonly serviceName: string | undefined;
  readonly prometheus: readonly PrometheusExporter[];
}

export interface TelemetryFindings {
  errors: string[];
  warnings: string[];
}

const PREFIX = `"${TELEMETRY_NAMESPACE}"`;
/** Read, or harmless to ignore for a pull exporter. */
const TOP_KEYS = new Set(['service_name', 'service_version', 'deploy_env', 'metric_reporting_period', 'exporters']);
/** KrakenD settings of traces and of push exporters: not implemented here, each warned about. */
const TOP_NOT_YET = new Set(['trace_sample_rate', 'layers', 'skip_paths', 'metric_providers', 'trace_providers']);
const EXPORTER_KEYS = new Set(['name', 'port', 'listen_ip', 'process_metrics', 'go_metrics', 'disable_metrics']);

/** Errors (the exporter cannot run as written) and warnings (ignored settings) of the namespace; empty when absent. */
export function inspectTelemetry(extra: ExtraConfig): TelemetryFindings {
  return read(extra).findings;
}

/** The namespace's settings, or undefined when it is absent or has no Prometheus exporter. Assumes it validated. */
export function parseTelemetryConfig(extra: ExtraConfig): TelemetryConfig | undefined {
  const { config } = read(extra);
  return config && config.prometheus.length > 0 ? config : undefined;
}

function read(extra: ExtraConfig): { config: TelemetryConfig | undefined; findings: TelemetryFindings } {
  const findings: TelemetryFindings = { errors: [], warnings: [] };
  const raw = extra[TELEMETRY_NAMESPACE];
  if (raw === undefined) return { config: undefined, findings };
  if (!isJsonObject(raw)) {
    findings.errors.push(`${PREFIX}: expected an object, got ${describe(raw)}`);
    return { config: undefined, findings };
  }
  for (const key of Object.keys(raw)) {
    if (TOP_KEYS.has(key)) continue;
    if (TOP_NOT_YET.has(key)) findings.warnings.push(`${PREFIX}.${key} is not implemented by krakend-cluster (only Prometheus metrics are): ignored`);
    else findings.warnings.push(`${PREFIX}.${key} is not a known OpenTelemetry setting: ignored`);
  }
  const serviceName = raw['service_name'];
  if (serviceName !== undefined && typeof serviceName !== 'string') {
    findings.errors.push(`${PREFIX}.service_name: expected a string, got ${describe(serviceName)}`);
  }
  const exporters = raw['exporters'];
  const prometheus: PrometheusExporter[] = [];
  if (exporters !== undefined && !isJsonObject(exporters)) {
    findings.errors.push(`${PREFIX}.exporters: expected an object such as {"prometheus": [...]}, got ${describe(exporters)}`);
  } else if (exporters !== undefined) {
    for (const kind of Object.keys(exporters)) {
      if (kind !== 'prometheus') {
        findings.warnings.push(`${PREFIX}.exporters.${kind}: only the prometheus exporter is implemented by krakend-cluster: ignored`);
      }
    }
    const list = exporters['prometheus'];
    if (list !== undefined && !Array.isArray(list)) {
      findings.errors.push(`${PREFIX}.exporters.prometheus: expected a list of exporters, got ${describe(list)}`);
    } else if (list !== undefined) {
      list.forEach((item, i) => {
        const exporter = readExporter(item, `${PREFIX}.exporters.prometheus[${i}]`, findings);
        if (exporter) prometheus.push(exporter);
      });
    }
  }
  checkUnique(prometheus, findings);
  if (findings.errors.length > 0) return { config: undefined, findings };
  return { config: { serviceName: typeof serviceName === 'string' ? serviceName : undefined, prometheus }, findings };
}

function readExporter(item: JsonValue, path: string, findings: TelemetryFindings): PrometheusExporter | undefined {
  if (!isJsonObject(item)) {
    findings.errors.push(`${path}: expected an object with at least "name" and "port", got ${describe(item)}`);
    return undefined;
  }
  const errors = findings.errors.length;
  for (const key of Object.keys(item)) {
    if (!EXPORTER_KEYS.has(key)) findings.warnings.push(`${path}.${key} is not a known prometheus exporter setting: ignored`);
  }
  const name = item['name'];
  if (typeof name !== 'string' || name === '') findings.errors.push(`${path}.name: required, a non-empty string (got ${describe(name)})`);
  const port = item['port'] ?? DEFAULT_PROMETHEUS_PORT;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    findings.errors.push(`${path}.port: expected an integer port in 0..65535 (0 picks a free one), got ${describe(port)}`);
  }
  const listenIp = item['listen_ip'] ?? '0.0.0.0';
  if (typeof listenIp !== 'string' || isIP(listenIp) === 0) {
    findings.errors.push(`${path}.listen_ip: expected an IPv4 or IPv6 address such as "0.0.0.0" or "127.0.0.1", got ${describe(listenIp)}`);
  }
  for (const flag of ['process_metrics', 'go_metrics', 'disable_metrics']) {
    const v = item[flag];
    if (v !== undefined && typeof v !== 'boolean') findings.errors.push(`${path}.${flag}: expected true or false, got ${describe(v)}`);
  }
  if (item['go_metrics'] === true) {
    findings.warnings.push(`${path}.go_metrics: there is no Go runtime here; process_metrics includes Node.js's own (event loop, heap, GC)`);
  }
  if (item['disable_metrics'] === true) {
    findings.warnings.push(`${path}.disable_metrics is true: this exporter serves nothing and is not started`);
    return undefined;
  }
  if (findings.errors.length > errors) return undefined;
  return { name: name as string, port: port as number, listenIp: listenIp as string, processMetrics: item['process_metrics'] === true };
}

function checkUnique(exporters: readonly PrometheusExporter[], findings: TelemetryFindings): void {
  const names = new Set<string>();
  const ports = new Map<string, string>();
  for (const e of exporters) {
    if (names.has(e.name)) findings.errors.push(`${PREFIX}.exporters.prometheus: the name "${e.name}" is used twice`);
    names.add(e.name);
    if (e.port === 0) continue;
    const other = ports.get(String(e.port));
    if (other !== undefined) findings.errors.push(`${PREFIX}.exporters.prometheus: "${other}" and "${e.name}" both use port ${e.port}`);
    ports.set(String(e.port), e.name);
  }
}

function describe(v: JsonValue | undefined): string {
  if (v === undefined) return 'nothing';
  return JSON.stringify(v);
}
