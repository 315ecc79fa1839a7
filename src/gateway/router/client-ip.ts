import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { RouterOptions } from './router-options.js';

export type ClientIpResolver = (req: IncomingMessage) => string;

function stripMapped(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}

/**
 * The client's IP, for X-Forwarded-For and per-client limits. By default the socket's peer address: forwarded
 * headers are only believed when `forwarded_by_client_ip` is on and the peer is a trusted proxy (gin's rule,
 * right to left, skipping trusted hops). KrakenD's gin trusts any peer by default; we trust none unless told,
 * because a spoofable client IP breaks per-client rate limits.
 */
export function createClientIpResolver(options: RouterOptions): ClientIpResolver {
  const peer = (req: IncomingMessage) => stripMapped(req.socket.remoteAddress ?? '');
  if (!options.forwardedByClientIp) return peer;
  const trusted = buildTrust(options.trustedProxies);
  const headers = options.remoteIpHeaders.map((h) => h.toLowerCase());
  return (req) => {
    const remote = peer(req);
    if (!trusted(remote)) return remote;
    for (const name of headers) {
      const raw = req.headers[name];
      const value = Array.isArray(raw) ? raw.join(',') : raw;
      if (!value) continue;
      const hops = value.split(',').map((s) => s.trim());
      for (let i = hops.length - 1; i >= 0; i--) {
        const ip = stripMapped(hops[i] as string);
        if (!isIP(ip)) break;
        if (i === 0 || !trusted(ip)) return ip;
      }
    }
    return remote;
  };
}

function buildTrust(list: readonly string[]): (ip: string) => boolean {
  if (list.length === 0) return () => true;
  const blocks = new BlockList();
  for (const entry of list) {
    const parsed = parseTrustedProxy(entry);
    if (!parsed) continue;
    if (parsed.prefix === undefined) blocks.addAddress(parsed.address, parsed.family);
    else blocks.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return (ip) => {
    const family = isIP(ip);
    return family !== 0 && blocks.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * An address or CIDR from `trusted_proxies`; undefined when malformed. A malformed prefix must never widen trust
 * (`10.0.0.0/` read as `/0` would trust every peer), so anything doubtful is rejected; the config loader reports it.
 */
export function parseTrustedProxy(
  entry: string,
): { address: string; family: 'ipv4' | 'ipv6'; prefix: number | undefined } | undefined {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const kind = isIP(address);
  if (kind === 0) return undefined;
  const family = kind === 6 ? 'ipv6' : 'ipv4';
  if (slash < 0) return { address, family, prefix: undefined };
  const bits = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > (kind === 6 ? 128 : 32)) return undefined;
  return { address, family, prefix };
}
