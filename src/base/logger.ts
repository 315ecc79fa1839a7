import type { Clock } from './clock.js';
import { systemClock } from './clock.js';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';
export type LogFormat = 'text' | 'json';

const LEVEL_RANK: Record<LogLevel, number> = { DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3, CRITICAL: 4 };

export const LOG_LEVELS = Object.keys(LEVEL_RANK) as LogLevel[];

export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(LEVEL_RANK, value);
}

export interface LoggerOptions {
  /** `[KRAKEND]` for nodes, `CM ` for the Cluster Manager (ARCHITECTURE.md, Logs). */
  prefix: string;
  level?: LogLevel;
  format?: LogFormat;
  clock?: Clock;
  /** Where finished lines go, newline included. Defaults to stdout. */
  sink?: (line: string) => void;
}

/**
 * The one logger of the project: `PREFIX YYYY/MM/DD - HH:MM:SS.mmm ▶ LEVEL message`, local time, as KrakenD
 * prints it; or one JSON object per line.
 */
export class Logger {
  readonly prefix: string;
  private readonly minRank: number;
  private readonly format: LogFormat;
  private readonly clock: Clock;
  private readonly sink: (line: string) => void;

  constructor(options: LoggerOptions) {
    this.prefix = options.prefix;
    this.minRank = LEVEL_RANK[options.level ?? 'INFO'];
    this.format = options.format ?? 'text';
    this.clock = options.clock ?? systemClock;
    this.sink = options.sink ?? ((line) => void process.stdout.write(line));
  }

  enabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] >= this.minRank;
  }

  debug(message: string): void {
    this.log('DEBUG', message);
  }
  info(message: string): void {
    this.log('INFO', message);
  }
  warning(message: string): void {
    this.log('WARNING', message);
  }
  error(message: string): void {
    this.log('ERROR', message);
  }
  critical(message: string): void {
    this.log('CRITICAL', message);
  }

  log(level: LogLevel, message: string): void {
    if (LEVEL_RANK[level] < this.minRank) return;
    const now = this.clock.now();
    if (this.format === 'json') {
      this.sink(
        JSON.stringify({ time: new Date(now).toISOString(), module: this.prefix.trim(), level, msg: message }) + '\n',
      );
      return;
    }
    this.sink(`${this.prefix} ${formatLogTime(now)} ▶ ${level} ${message}\n`);
  }

  /** Writes a line that has its own format (the access log), subject to no level. */
  raw(line: string): void {
    this.sink(line.endsWith('\n') ? line : line + '\n');
  }
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** `2017/02/13 - 18:18:23.290`, local time. */
export function formatLogTime(epochMs: number, withMillis = true): string {
  const d = new Date(epochMs);
  const base =
    `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} - ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMillis ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

/** A logger that keeps its lines in memory: for tests. */
export function memoryLogger(prefix = '[KRAKEND]', level: LogLevel = 'DEBUG'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = new Logger({ prefix, level, sink: (line) => void lines.push(line.replace(/\n$/, '')) });
  return { logger, lines };
}
