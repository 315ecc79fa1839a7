/**
 * `npm run test:faults`: picks the network and runs the fault-injection suite (suite.ts) on it.
 *
 * With root, iproute2 and nftables, the suite runs on network namespaces: this process (in the root namespace)
 * creates them, runs the suite INSIDE the hub namespace, streams its output, and removes the namespaces at the
 * end, also on SIGINT/SIGTERM. Otherwise it runs on loopback, says why, and injects the network faults through
 * fault proxies on the cluster ports (network-loopback.ts). `KCF_NETWORK=loopback` forces loopback. Extra
 * arguments go to the suite.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createNetnsNetwork, netnsAvailable } from './network-netns.js';
import { loopbackReason } from './network-loopback.js';
import type { NetnsNetwork } from './network-netns.js';

const SUITE = fileURLToPath(new URL('./suite.js', import.meta.url));
const NODES = 4;

function runChild(command: string, args: string[], onSignal: (sig: NodeJS.Signals) => void): Promise<number> {
  const child = spawn(command, args, { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals) => {
    child.kill(sig);
    onSignal(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
    child.once('error', (err) => {
      process.stderr.write(`cannot start the suite: ${err.message}\n`);
      resolve(1);
    });
  });
}

async function main(): Promise<number> {
  const extra = process.argv.slice(2);
  const forced = process.env['KCF_NETWORK'] === 'loopback' ? 'KCF_NETWORK=loopback' : undefined;
  const available = forced ? { ok: false as const, reason: forced } : await netnsAvailable();
  if (!available.ok) {
    process.stdout.write(`network: loopback (${loopbackReason(available.reason)})\n`);
    return runChild(process.execPath, [SUITE, '--network', 'loopback', '--nodes', String(NODES), '--reason', available.reason, ...extra], () => {});
  }
  let net: NetnsNetwork | undefined;
  try {
    net = await createNetnsNetwork(NODES);
  } catch (err) {
    const reason = `creating the namespaces failed: ${(err as Error).message}`;
    process.stdout.write(`network: loopback (${loopbackReason(reason)})\n`);
    return runChild(process.execPath, [SUITE, '--network', 'loopback', '--nodes', String(NODES), '--reason', reason, ...extra], () => {});
  }
  const n = net;
  process.stdout.write(`network: netns (hub ${n.hubNamespace}, nodes ${n.nodeNamespaces.join(' ')})\n`);
  // Synchronous removal on exit and signals: an interrupted run leaves no namespace behind.
  const destroyOnExit = () => n.destroySync();
  process.once('exit', destroyOnExit);
  try {
    return await runChild('ip', ['netns', 'exec', n.hubNamespace, process.execPath, SUITE, '--network', 'netns', '--nodes', String(NODES), ...extra], () => {
      // The suite stops its processes on the signal; the namespaces go when this process exits.
    });
  } finally {
    await n.destroy().catch((err: unknown) => process.stderr.write(`removing the namespaces: ${(err as Error).message}\n`));
    process.off('exit', destroyOnExit);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
