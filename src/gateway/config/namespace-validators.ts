/**
 * Each feature validates its own extra_config namespace; the loader asks here, so `krakend check` reports a bad
 * feature config with the rest, instead of the gateway failing when it builds the endpoint.
 */
import type { ExtraConfig } from './types.js';
import { inspectRateLimit, ROUTER_NAMESPACE, PROXY_NAMESPACE as RATELIMIT_PROXY_NAMESPACE } from '../../ratelimit/config.js';
import { validateProxyNamespace, PROXY_NAMESPACE } from '../proxy/static.js';
import { validateCors } from '../router/cors.js';
import { validateCircuitBreaker } from '../proxy/circuit-breaker.js';
import { validateBackendHttp } from '../proxy/http-proxy.js';

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

const VALIDATORS: Record<string, Validator> = {
  'security/cors': only('security/cors', 'service', 'the service', validateCors),
  'qos/circuit-breaker': only('qos/circuit-breaker', 'backend', 'a backend', validateCircuitBreaker),
  'backend/http': only('backend/http', 'backend', 'a backend', validateBackendHttp),
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
