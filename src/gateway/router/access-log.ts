import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../base/clock.js';
import { formatDuration } from '../../base/duration.js';
import { formatLogTime } from '../../base/logger.js';
import type { Logger } from '../../base/logger.js';

/**
 * The access log in gin's default format, which KrakenD CE prints:
 * `[GIN] 2017/02/13 - 18:18:23 | 200 |    1.234567ms |       127.0.0.1 | GET      "/foo"`.
 */
export function logAccess(
  logger: Logger,
  clock: Clock,
  req: IncomingMessage,
  res: ServerResponse,
  startedAt: number,
  clientIp: string,
): void {
  const latency = formatDuration(clock.monotonic() - startedAt).padStart(13);
  const method = (req.method ?? '').padEnd(7);
  logger.raw(
    `[GIN] ${formatLogTime(clock.now(), false)} | ${String(res.statusCode).padStart(3)} | ${latency} | ` +
      `${clientIp.padStart(15)} | ${method} ${JSON.stringify(req.url ?? '')}`,
  );
}
