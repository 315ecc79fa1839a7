/**
 * Each feature validates its own extra_config namespace; the loader asks here, so `krakend check` reports a bad
 * feature config with the rest, instead of the gateway failing when it builds the endpoint.
 */
import type { ExtraConfig } from './types.js';
import { inspectRateLimit, ROUTER_NAMESPACE, PROXY_NAMESPACE as RATELIMIT_PROXY_NAMESPACE } from '../../ratelimit/config.js';
import { validateProxyNamespace, PROXY_NAMESPACE } from '../proxy/static.js';
import { validateCors } from '../router/cors.js';
import { parseTrustedProxy } from '../router/client-ip.js';
import { validateCircuitBreaker } from '../proxy/circuit-breaker.js';
import { validateBackendHttp } from '../proxy/http-proxy.js';
import { inspectTelemetry, TELEMETRY_NAMESPACE } from '../telemetry/config.js';

export type NamespaceLevel = 'service' | 'endpoint' | 'backend';

export interface NamespaceFindings {
  errors: string[];
  warnings: string[];
}

type Validator = (extra: ExtraConfig, level: NamespaceLevel, params: readonly string[]) => NamespaceFindings;

const only =
  (ns: string, wanted: NamespaceLevel, where: string, check: (extra: ExtraConfig) => string[]): Validator =>
  (extra, level) =>
    level === wanted ? { errors: check(extra), warnings: [] } : misplaced(ns, where);

/** `router` keys implemented by router-options.ts, and KrakenD's that are not (each warned about, never silent). */
const ROUTER_KEYS = new Set([
  'return_error_msg', 'health_path', 'disable_health', 'disable_access_log', 'logger_skip_paths',
  'hide_version_header', 'disable_redirect_trailing_slash', 'disable_handle_method_not_allowed', 'auto_options',
  'forwarded_by_client_ip', 'remote_ip_headers', 'trusted_proxies',
]);
const ROUTER_NOT_YET = new Set([
  'disable_redirect_fixed_path', 'remove_extra_slash', 'disable_path_decoding', 'max_multipart_memory',
  'app_engine', 'error_body', 'disable_gzip', 'use_h2c',
]);

function validateRouter(extra: ExtraConfig): NamespaceFindings {
  const out: NamespaceFindings = { errors: [], warnings: [] };
  const ns = extra['router'];
  if (ns === undefined) return out;
  if (typeof ns !== 'object' || ns === null || Array.isArray(ns)) {
    out.errors.push('router: expected an object');
    return out;
  }
  for (const key of Object.keys(ns)) {
    if (ROUTER_KEYS.has(key)) continue;
    if (ROUTER_NOT_YET.has(key)) out.warnings.push(`router.${key} is not implemented by krakend-cluster yet: ignored`);
    else out.warnings.push(`router.${key} is not a known router option: ignored`);
  }
  const proxies = (ns as Record<string, unknown>)['trusted_proxies'];
  if (Array.isArray(proxies)) {
    proxies.forEach((p, i) => {
      if (typeof p !== 'string' || parseTrustedProxy(p) === undefined) {
        out.errors.push(`router.trusted_proxies[${i}]: ${JSON.stringify(p)} is not an IP address or CIDR`);
      }
    });
  }
  return out;
}

const VALIDATORS: Record<string, Validator> = {
  router: (extra, level) => (level === 'service' ? validateRouter(extra) : misplaced('router', 'the service')),
  'security/cors': only('security/cors', 'service', 'the service', validateCors),
  'qos/circuit-breaker': only('qos/circuit-breaker', 'backend', 'a backend', validateCircuitBreaker),
  'backend/http': only('backend/http', 'backend', 'a backend', validateBackendHttp),
  [TELEMETRY_NAMESPACE]: (extra, level) => (level === 'service' ? inspectTelemetry(extra) : misplaced(TELEMETRY_NAMESPACE, 'the service')),
  [PROXY_NAMESPACE]: (extra, level) =>
    level === 'service'
      ? { errors: [], warnings: [] }
      : { errors: validateProxyNamespace(extra), warnings: [] },
  [ROUTER_NAMESPACE]: (extra, level, params) =>
    level === 'endpoint' ? inspectRateLimit(extra, 'endpoint', params) : misplaced(ROUTER_NAMESPACE, 'an endpoint'),
  [RATELIMIT_PROXY_NAMESPACE]: (extra, level) =>
    level === 'backend' ? inspectRateLimit(extra, 'backend') : misplaced(RATELIMIT_PROXY_NAMESPACE, 'a backend'),
};

function misplaced(ns: string, where: string): NamespaceFindings {
  return { errors: [], warnings: [`${ns} is only read in ${where}'s extra_config: ignored here`] };
}

/** Findings for one namespace of an extra_config; empty when the namespace has no validator. */
export function validateNamespace(
  ns: string,
  extra: ExtraConfig,
  level: NamespaceLevel,
  params: readonly string[] = [],
): NamespaceFindings {
  const validator = VALIDATORS[ns];
  return validator ? validator(extra, level, params) : { errors: [], warnings: [] };
}

/** Registers the validator of a namespace implemented elsewhere (features add theirs as they land). */
export function registerNamespaceValidator(ns: string, validator: Validator): void {
  VALIDATORS[ns] = validator;
}
