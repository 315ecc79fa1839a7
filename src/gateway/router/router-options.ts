/**
 * The service-level `router` namespace (KrakenD CE's gin engine options) that this gateway implements.
 */
import type { ExtraConfig } from '../config/types.js';
import { canonicalHeaderKey } from '../http/headers.js';
import { isJsonObject } from '../json/types.js';

export interface RouterOptions {
  returnErrorMsg: boolean;
  healthPath: string;
  disableHealth: boolean;
  disableAccessLog: boolean;
  loggerSkipPaths: ReadonlySet<string>;
  hideVersionHeader: boolean;
  disableRedirectTrailingSlash: boolean;
  disableHandleMethodNotAllowed: boolean;
  autoOptions: boolean;
  /** When true, the client IP is read from `remoteIpHeaders` sent by a trusted proxy (gin's semantics). */
  forwardedByClientIp: boolean;
  remoteIpHeaders: readonly string[];
  /** Addresses or CIDRs whose forwarded headers are trusted; empty trusts every address, as gin does. */
  trustedProxies: readonly string[];
}

export const ROUTER_NAMESPACE = 'router';

export function parseRouterOptions(extra: ExtraConfig): RouterOptions {
  const raw = extra[ROUTER_NAMESPACE];
  const o = isJsonObject(raw) ? raw : {};
  const bool = (k: string) => o[k] === true;
  const strings = (k: string): string[] => {
    const v = o[k];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  };
  const healthPath = typeof o['health_path'] === 'string' && o['health_path'] !== '' ? o['health_path'] : '/__health';
  const ipHeaders = strings('remote_ip_headers').map(canonicalHeaderKey);
  return {
    returnErrorMsg: bool('return_error_msg'),
    healthPath,
    disableHealth: bool('disable_health'),
    disableAccessLog: bool('disable_access_log'),
    loggerSkipPaths: new Set(strings('logger_skip_paths')),
    hideVersionHeader: bool('hide_version_header'),
    disableRedirectTrailingSlash: bool('disable_redirect_trailing_slash'),
    disableHandleMethodNotAllowed: bool('disable_handle_method_not_allowed'),
    autoOptions: bool('auto_options'),
    forwardedByClientIp: bool('forwarded_by_client_ip'),
    remoteIpHeaders: ipHeaders.length > 0 ? ipHeaders : ['X-Forwarded-For', 'X-Real-Ip'],
    trustedProxies: strings('trusted_proxies'),
  };
}
