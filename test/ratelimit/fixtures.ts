/** Minimal configs for the rate limit tests: only what the limits read is meaningful. */
import type { IncomingMessage } from 'node:http';
import type { BackendConfig, EndpointConfig } from '../../src/gateway/config/types.js';
import type { JsonObject } from '../../src/gateway/json/types.js';

export function endpointWith(extraConfig: JsonObject, path = '/users/{id}', params: string[] = ['id']): EndpointConfig {
  return {
    id: `GET ${path}`,
    endpoint: path,
    method: 'GET',
    params,
    backends: [],
    concurrentCalls: 1,
    timeout: 2000,
    cacheTtl: 0,
    inputQueryStrings: [],
    inputHeaders: [],
    outputEncoding: 'json',
    extraConfig,
  };
}

export function backendWith(extraConfig: JsonObject, id = 'GET /users/{id}#0'): BackendConfig {
  return {
    id,
    index: 0,
    host: ['http://127.0.0.1:8000'],
    urlPattern: '/users/{id}',
    method: 'GET',
    encoding: 'json',
    sd: 'static',
    disableHostSanitize: false,
    group: undefined,
    target: undefined,
    allow: [],
    deny: [],
    mapping: {},
    isCollection: false,
    extraConfig,
  };
}

/** A request carrying only headers (lower-case names, as Node gives them). */
export function requestWith(headers: Record<string, string> = {}): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}
