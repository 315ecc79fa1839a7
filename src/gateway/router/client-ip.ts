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
    const [addr, bits] = entry.split('/');
    const family = isIP(addr ?? '') === 6 ? 'ipv6' : 'ipv4';
    if (!addr || !isIP(addr)) continue;
    if (bits === undefined) blocks.addAddress(addr, family);
    else blocks.addSubnet(addr, Number(bits), family);
  }
  return (ip) => {
    const family = isIP(ip);
    return family !== 0 && blocks.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  };
}
