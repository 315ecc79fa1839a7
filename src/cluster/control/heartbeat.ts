/**
 * Keepalive of one control channel. A heartbeat goes out only when this side has sent nothing else for a whole
 * beat: any frame proves the sender alive, so a node that reports stats, or a manager that acks them, saves those
 * beats (at 1,000 nodes the beats were most of the manager's frames). With `silenceMs`, the channel is closed when
 * nothing at all has arrived for that long, which is how a frozen (SIGSTOPped) or vanished peer is found.
 *
 * The timer is re-armed at the next moment something could be due (last send + beat, last receive + silence)
 * rather than ticking every beat, so the gap between two frames of this side never exceeds one beat plus timer lag.
 */
import type { Clock, TimerHandle } from '../../base/clock.js';
import { ErrorCode } from '../../base/errors.js';
import { WireError } from '../wire/index.js';
import type { FramedConnection, Message } from '../wire/index.js';
import { ControlType } from './messages.js';

export interface KeepaliveOptions {
  clock: Clock;
  beatMs: number;
  /** Close the channel after this long without receiving anything (undefined: the caller watches it). */
  silenceMs?: number;
  /** What a beat carries (undefined: a Heartbeat): the manager sends its deferred stats ack as its beat. */
  beat?: () => Message | undefined;
}

/** Starts the keepalive; returns its stop function (also stopped by the channel closing). */
export function keepalive(conn: FramedConnection, options: KeepaliveOptions): () => void {
  const { clock, beatMs, silenceMs } = options;
  let timer: TimerHandle | undefined;
  let stopped = false;

  const arm = (): void => {
    if (stopped) return;
    const now = clock.monotonic();
    let due = conn.lastSendAt + beatMs;
    if (silenceMs !== undefined) due = Math.min(due, conn.lastReceiveAt + silenceMs);
    timer = clock.setTimeout(tick, Math.max(1, due - now));
    timer.unref();
  };

  const tick = (): void => {
    timer = undefined;
    if (stopped || conn.isClosed) return;
    const now = clock.monotonic();
    if (silenceMs !== undefined && now - conn.lastReceiveAt >= silenceMs) {
      // Timers run before I/O in an event-loop turn: after a stall of this process (GC, an overloaded host) the
      // peer's frames may be waiting unread. Decide after this turn's reads, not on a stale view.
      setImmediate(() => {
        if (stopped || conn.isClosed) return;
        const silent = clock.monotonic() - conn.lastReceiveAt;
        if (silent >= silenceMs) {
          conn.destroy(new WireError(ErrorCode.WireTimeout, `nothing received for ${Math.round(silent)} ms`));
        } else {
          arm();
        }
      });
      return;
    }
    if (now - conn.lastSendAt >= beatMs) {
      conn.send(options.beat?.() ?? { type: ControlType.Heartbeat, body: { at: clock.now() } }).catch(() => {});
    }
    arm();
  };

  const stop = (): void => {
    stopped = true;
    clock.clearTimeout(timer);
    timer = undefined;
  };
  conn.once('close', stop);
  arm();
  return stop;
}

/**
 * The beat the manager gives its control channels: the configured beat, lengthened so that `sessions` channels
 * beating once each per beat stay under `maxPerSecond` (0: never lengthened). As Nomad's servers stretch client
 * heartbeat TTLs under `max_heartbeats_per_second`: finding a node that failed is gossip's job, the channel's beat
 * only finds half-open channels, and that may take longer in a large cluster. The configured beat while the
 * channels stay under the bound with it; past that, the shortest multiple of it that does, so the beat changes
 * (and every channel is told) at most once per `maxPerSecond × beat` nodes joining or leaving (per 100 nodes at the
 * defaults, 1 s and 100).
 */
export function effectiveBeatMs(configuredMs: number, sessions: number, maxPerSecond: number): number {
  if (!(maxPerSecond > 0) || sessions * 1000 <= maxPerSecond * configuredMs) return configuredMs;
  const neededMs = (sessions / maxPerSecond) * 1000;
  return Math.ceil(neededMs / configuredMs) * configuredMs;
}
