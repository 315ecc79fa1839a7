/**
 * Membership benchmark (issue 4): the real Membership drivers on the in-memory network under a fake clock, so
 * that simulated hours take minutes. For N = 10, 100, 1000 members with the `lan` preset, at 0% and 5% packet
 * loss:
 *   - first_suspect_p50_s / _p99_s: from a crash to the first member raising a suspicion, over many crashes;
 *   - all_unreachable_p99_s: from a crash until every member holds the crashed one unreachable;
 *   - false_unreachable / false_suspect per member-hour, in runs with no crash;
 *   - bytes per member per second: UDP (probes + gossip) and TCP (push-pull, with the rare fallback ping).
 * Each N is bootstrapped once (a join wave through one seed), then measured at 0% and then 5% loss.
 *
 *   npm run bench:membership                       # the full run
 *   node dist/bench/membership.js --sizes=10,100 --crashes=20 --quiet-s=600   # a quicker look
 * Last line: one JSON object, {"bench":"membership","rows":[…]}.
 */
import { SeededRandom } from '../src/base/random.js';
import { Simulation } from '../src/cluster/membership/simulation.js';
import type { SimMember, Transition } from '../src/cluster/membership/simulation.js';
import { percentileSorted, round } from './lib/stats.js';

interface Plan {
  readonly n: number;
  /** Crashes per loss setting. */
  readonly crashes: number;
  /** Simulated seconds of the crash-free run per loss setting. */
  readonly quietS: number;
}

interface Row {
  n: number;
  loss: number;
  first_suspect_p50_s: number | null;
  first_suspect_p99_s: number | null;
  all_unreachable_p99_s: number | null;
  false_unreachable_per_member_hour: number | null;
  false_suspect_per_member_hour: number | null;
  gossip_bytes_per_member_s: number | null;
  pushpull_bytes_per_member_s: number | null;
}

const DEFAULT_PLANS: readonly Plan[] = [
  // p99 needs a few hundred samples to be stable (100 crashes at n = 100 swing the p99 by a second); n = 1000
  // costs ~5 s of wall time per crash (every rumor reaches 1000 members), so its p99 is the worst of 20.
  { n: 10, crashes: 400, quietS: 7200 },
  { n: 100, crashes: 400, quietS: 1800 },
  { n: 1000, crashes: 20, quietS: 300 },
];
const LOSSES = [0, 0.05];

function arg(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

function plans(): Plan[] {
  const sizes = arg('sizes')?.split(',').map(Number);
  const crashes = arg('crashes');
  const quiet = arg('quiet-s');
  return DEFAULT_PLANS.filter((p) => !sizes || sizes.includes(p.n)).map((p) => ({
    n: p.n,
    crashes: crashes ? Number(crashes) : p.crashes,
    quietS: quiet ? Number(quiet) : p.quietS,
  }));
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** A crash-free run: false positives and traffic. */
function quietRun(sim: Simulation, n: number, seconds: number): Pick<Row, 'false_unreachable_per_member_hour' | 'false_suspect_per_member_hour' | 'gossip_bytes_per_member_s' | 'pushpull_bytes_per_member_s'> {
  let suspects = 0;
  let unreachable = 0;
  sim.onTransition = (t) => {
    if (t.to === 'suspect') suspects++;
    else if (t.to === 'dead') unreachable++;
  };
  const before = sim.traffic();
  sim.run(seconds * 1000);
  const after = sim.traffic();
  sim.onTransition = undefined;
  const memberHours = (n * seconds) / 3600;
  return {
    false_unreachable_per_member_hour: round(unreachable / memberHours, 4),
    false_suspect_per_member_hour: round(suspects / memberHours, 4),
    gossip_bytes_per_member_s: round((after.packetBytes - before.packetBytes) / n / seconds, 1),
    pushpull_bytes_per_member_s: round((after.streamBytes - before.streamBytes) / n / seconds, 1),
  };
}

/** Crash, detect, restart, reconverge — `count` times. Times in seconds. */
async function crashRuns(sim: Simulation, count: number, random: SeededRandom): Promise<{ firstSuspect: number[]; allUnreachable: number[]; missed: number }> {
  const firstSuspect: number[] = [];
  const allUnreachable: number[] = [];
  let missed = 0;
  for (let k = 0; k < count; k++) {
    const candidates = sim.up().filter((m) => m.index !== 0);
    const victim = candidates[random.int(candidates.length)] as SimMember;
    sim.run(random.float() * 1000); // a random phase against everyone's probe cycle
    const crashedAt = sim.clock.monotonic();
    let first: number | undefined;
    let last = crashedAt;
    sim.onTransition = (t: Transition) => {
      if (t.subject !== victim.id) return;
      if (t.to === 'suspect' && first === undefined) first = t.at;
      if (t.to === 'dead') last = Math.max(last, t.at);
    };
    sim.crash(victim.id);
    const others = sim.up();
    const detected = sim.runUntil(() => sim.allSee(victim.id, 'unreachable', others), 180_000, 250);
    sim.onTransition = undefined;
    if (!detected || first === undefined) {
      missed++;
    } else {
      firstSuspect.push((first - crashedAt) / 1000);
      allUnreachable.push((last - crashedAt) / 1000);
    }
    await sim.restart(victim.id);
    sim.runUntil(() => sim.converged(), 120_000, 500);
    sim.run(2_000);
  }
  return { firstSuspect, allUnreachable, missed };
}

async function measure(plan: Plan, seed: number): Promise<Row[]> {
  const started = performance.now();
  const sim = new Simulation({ seed, preset: 'lan' });
  sim.recordTransitions = false;
  const tookMs = await sim.bootstrap(plan.n, { maxMs: 600_000 });
  sim.run(40_000); // let the join wave's last broadcasts and first push-pulls pass
  log(`n=${plan.n}: bootstrapped in ${(tookMs / 1000).toFixed(1)} s simulated, ${((performance.now() - started) / 1000).toFixed(1)} s wall; converged=${sim.converged()}`);
  const random = new SeededRandom(seed ^ 0xc0ffee);
  const rows: Row[] = [];
  for (const loss of LOSSES) {
    const t0 = performance.now();
    sim.network.configure({ loss });
    sim.run(30_000);
    const quiet = quietRun(sim, plan.n, plan.quietS);
    const crashes = await crashRuns(sim, plan.crashes, random);
    const fs = Float64Array.from(crashes.firstSuspect).sort();
    const au = Float64Array.from(crashes.allUnreachable).sort();
    const row: Row = {
      n: plan.n,
      loss,
      first_suspect_p50_s: round(percentileSorted(fs, 50), 2),
      first_suspect_p99_s: round(percentileSorted(fs, 99), 2),
      all_unreachable_p99_s: round(percentileSorted(au, 99), 2),
      ...quiet,
    };
    rows.push(row);
    log(
      `n=${plan.n} loss=${loss * 100}%: first suspect p50 ${row.first_suspect_p50_s} s, p99 ${row.first_suspect_p99_s} s; ` +
        `all unreachable p99 ${row.all_unreachable_p99_s} s (${au.length} crashes, ${crashes.missed} undetected); ` +
        `false unreachable ${row.false_unreachable_per_member_hour}/member-h, false suspect ${row.false_suspect_per_member_hour}/member-h ` +
        `(${plan.quietS} s quiet); UDP ${row.gossip_bytes_per_member_s} B/member/s, TCP ${row.pushpull_bytes_per_member_s} B/member/s ` +
        `[${((performance.now() - t0) / 1000).toFixed(1)} s wall]`,
    );
  }
  await sim.closeAll();
  return rows;
}

async function main(): Promise<void> {
  const started = performance.now();
  const seed = Number(arg('seed') ?? 4);
  const rows: Row[] = [];
  for (const plan of plans()) rows.push(...(await measure(plan, seed + plan.n)));
  log(`total ${((performance.now() - started) / 1000).toFixed(1)} s wall`);
  const at100 = rows.find((r) => r.n === 100 && r.loss === 0.05);
  if (at100) {
    const targets = [
      ['first_suspect_p50_s ≤ 2', (at100.first_suspect_p50_s ?? Infinity) <= 2],
      ['first_suspect_p99_s ≤ 6.5', (at100.first_suspect_p99_s ?? Infinity) <= 6.5],
      ['all_unreachable_p99_s ≤ 18', (at100.all_unreachable_p99_s ?? Infinity) <= 18],
      ['zero false unreachable', at100.false_unreachable_per_member_hour === 0],
    ] as const;
    for (const [what, ok] of targets) log(`target (n=100, 5% loss) ${what}: ${ok ? 'met' : 'MISSED'}`);
  }
  const g100 = rows.find((r) => r.n === 100 && r.loss === 0.05)?.gossip_bytes_per_member_s;
  const g1000 = rows.find((r) => r.n === 1000 && r.loss === 0.05)?.gossip_bytes_per_member_s;
  if (g100 && g1000) {
    const ratio = g1000 / g100;
    log(`target gossip bytes/member/s at n=1000 within 20% of n=100: ${ratio.toFixed(3)}× — ${Math.abs(ratio - 1) <= 0.2 ? 'met' : 'MISSED'}`);
  }
  process.stdout.write(`${JSON.stringify({ bench: 'membership', rows })}\n`);
}

await main();
