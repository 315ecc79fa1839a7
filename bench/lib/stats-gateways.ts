/**
 * Child process of `npm run bench:proxy`: two gateway instances of the same krakend.json (`BENCH_CONFIG_FILE`) in
 * one process, one without stats collection and one with a StatsCollector that takes a delta every 5 s and has it
 * acknowledged at once, as a cluster node's agent does. Same process, same heap and JIT: only the collection
 * differs, so the difference of their CPU per request is its cost. Binds ephemeral ports on 127.0.0.1 and reports
 * them over IPC (`{ type: 'ready', port, statsPort }`; `port` is the one without stats).
 */
import { readFileSync } from 'node:fs';
import { Logger } from '../../src/base/logger.js';
import { configOrThrow, parseConfigText } from '../../src/gateway/config/load.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { StatsCollector } from '../../src/stats/collector.js';

const file = process.env['BENCH_CONFIG_FILE'];
if (!file) throw new Error('BENCH_CONFIG_FILE is not set');
const config = configOrThrow(parseConfigText(readFileSync(file, 'utf8'), file));
const logger = new Logger({ prefix: '[KRAKEND]', level: 'WARNING' });
const stats = new StatsCollector({ stream: 'bench-proxy' });
const plain = new Gateway(config, { logger, port: 0, host: '127.0.0.1' });
const collecting = new Gateway(config, { logger, port: 0, host: '127.0.0.1', stats });
const port = (await plain.start()).port;
const statsPort = (await collecting.start()).port;
// The agent's side of the collection: a delta every stats interval, acknowledged (so the queue stays short).
setInterval(() => stats.ack(stats.takeDelta().seq), 5_000).unref();
process.send?.({ type: 'ready', port, statsPort });
process.on('disconnect', () => process.exit(0));
// An explicit exit, not death by signal: that is what lets --cpu-prof write its profile.
process.once('SIGTERM', () => process.exit(0));
