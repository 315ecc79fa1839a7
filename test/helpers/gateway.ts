/**
 * Runs a gateway in-process on 127.0.0.1 with a free port, from a krakend.json text, for integration tests.
 */
import { parseConfigText } from '../../src/gateway/config/load.js';
import { formatIssues } from '../../src/gateway/config/format-issues.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { memoryLogger } from '../../src/base/logger.js';

export interface RunningGateway {
  gateway: Gateway;
  url: string;
  lines: string[];
  close(): Promise<void>;
}

export function loadConfig(text: string) {
  const { config, issues } = parseConfigText(text, 'krakend.json');
  if (!config || issues.length > 0) throw new Error(formatIssues(issues));
  return config;
}

export async function startGateway(text: string): Promise<RunningGateway> {
  const config = loadConfig(text);
  const { logger, lines } = memoryLogger();
  const gateway = new Gateway(config, { logger, port: 0, host: '127.0.0.1' });
  const addr = await gateway.start();
  return {
    gateway,
    url: `http://127.0.0.1:${addr.port}`,
    lines,
    close: () => gateway.shutdown({ delay: 0, drainTimeout: 1000 }),
  };
}
