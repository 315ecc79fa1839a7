import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JsonObject } from '../../../src/gateway/json/types.js';
import type { RouterOptions } from '../../../src/gateway/router/router-options.js';
import { parseRouterOptions, ROUTER_NAMESPACE } from '../../../src/gateway/router/router-options.js';

const DEFAULTS: RouterOptions = {
  returnErrorMsg: false,
  healthPath: '/__health',
  disableHealth: false,
  disableAccessLog: false,
  loggerSkipPaths: new Set(),
  hideVersionHeader: false,
  disableRedirectTrailingSlash: false,
  disableHandleMethodNotAllowed: false,
  autoOptions: false,
  forwardedByClientIp: false,
  remoteIpHeaders: ['X-Forwarded-For', 'X-Real-Ip'],
  trustedProxies: [],
};

function parse(router: unknown): RouterOptions {
  return parseRouterOptions({ router: router as JsonObject });
}

describe('parseRouterOptions', () => {
  test('reads the "router" namespace', () => {
    assert.equal(ROUTER_NAMESPACE, 'router');
  });

  test('gives the defaults when the namespace is absent', () => {
    assert.deepEqual(parseRouterOptions({}), DEFAULTS);
    assert.deepEqual(parseRouterOptions({ 'other/namespace': { return_error_msg: true } }), DEFAULTS);
  });

  test('gives the defaults for an empty namespace or one that is not an object', () => {
    for (const value of [{}, null, [], 'router', 42, true]) {
      assert.deepEqual(parse(value), DEFAULTS, JSON.stringify(value));
    }
  });

  const flags: Array<[string, keyof RouterOptions]> = [
    ['return_error_msg', 'returnErrorMsg'],
    ['disable_health', 'disableHealth'],
    ['disable_access_log', 'disableAccessLog'],
    ['hide_version_header', 'hideVersionHeader'],
    ['disable_redirect_trailing_slash', 'disableRedirectTrailingSlash'],
    ['disable_handle_method_not_allowed', 'disableHandleMethodNotAllowed'],
    ['auto_options', 'autoOptions'],
    ['forwarded_by_client_ip', 'forwardedByClientIp'],
  ];
  for (const [key, field] of flags) {
    test(`sets ${field} from "${key}": true, and only that flag`, () => {
      assert.deepEqual(parse({ [key]: true }), { ...DEFAULTS, [field]: true });
      assert.deepEqual(parse({ [key]: false }), DEFAULTS);
    });
  }

  test('treats flags that are not JSON true as false', () => {
    const options = parse({ return_error_msg: 'true', disable_health: 1, auto_options: {}, hide_version_header: null });
    assert.deepEqual(options, DEFAULTS);
  });

  test('reads health_path, falling back to /__health when empty or not a string', () => {
    assert.equal(parse({ health_path: '/healthz' }).healthPath, '/healthz');
    assert.equal(parse({ health_path: '' }).healthPath, '/__health');
    assert.equal(parse({ health_path: 7 }).healthPath, '/__health');
  });

  test('reads logger_skip_paths into a set, dropping entries that are not strings', () => {
    const options = parse({ logger_skip_paths: ['/__health', '/metrics', 3, null, '/metrics'] });
    assert.deepEqual(options.loggerSkipPaths, new Set(['/__health', '/metrics']));
    assert.equal(options.loggerSkipPaths.has('/__health'), true);
    assert.deepEqual(parse({ logger_skip_paths: '/__health' }).loggerSkipPaths, new Set());
  });

  test('canonicalises remote_ip_headers as Go does', () => {
    assert.deepEqual(parse({ remote_ip_headers: ['cf-connecting-ip', 'X-REAL-IP'] }).remoteIpHeaders, [
      'Cf-Connecting-Ip',
      'X-Real-Ip',
    ]);
  });

  test("falls back to gin's X-Forwarded-For and X-Real-IP when remote_ip_headers is empty or holds no strings", () => {
    assert.deepEqual(parse({ remote_ip_headers: [] }).remoteIpHeaders, ['X-Forwarded-For', 'X-Real-Ip']);
    assert.deepEqual(parse({ remote_ip_headers: [1, false] }).remoteIpHeaders, ['X-Forwarded-For', 'X-Real-Ip']);
    assert.deepEqual(parse({ remote_ip_headers: 'X-Client-Ip' }).remoteIpHeaders, ['X-Forwarded-For', 'X-Real-Ip']);
  });

  test('reads trusted_proxies as given, dropping entries that are not strings', () => {
    assert.deepEqual(parse({ trusted_proxies: ['10.0.0.0/8', 5, '::1'] }).trustedProxies, ['10.0.0.0/8', '::1']);
  });

  test('reads a full KrakenD router block', () => {
    const options = parse({
      return_error_msg: true,
      health_path: '/ping',
      disable_access_log: true,
      logger_skip_paths: ['/ping'],
      hide_version_header: true,
      auto_options: true,
      forwarded_by_client_ip: true,
      remote_ip_headers: ['x-forwarded-for'],
      trusted_proxies: ['10.0.0.0/8'],
      unknown_key: 'ignored',
    });
    assert.deepEqual(options, {
      ...DEFAULTS,
      returnErrorMsg: true,
      healthPath: '/ping',
      disableAccessLog: true,
      loggerSkipPaths: new Set(['/ping']),
      hideVersionHeader: true,
      autoOptions: true,
      forwardedByClientIp: true,
      remoteIpHeaders: ['X-Forwarded-For'],
      trustedProxies: ['10.0.0.0/8'],
    });
  });
});
