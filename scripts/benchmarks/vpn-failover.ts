/**
 * VPN failover with real agents (part of `scripts/bench vpn`): the harness of
 * fixtures/vpn-agents.ts (a control plane, two candidate owners and a client,
 * each a real agent in its own network namespace). Each round waits until a
 * standby is set, SIGKILLs the owner, and times from the kill to the first
 * ping answered from the office through the new owner (pings of 0.3 s
 * timeout back to back, so the resolution is about 0.3 s); then restarts the
 * killed agent, which becomes the next round's standby. The whole run's
 * facts go through the history checker, and each kill is split into its
 * parts from the recorded facts: the dead owner's lease running out (the new
 * epoch's grant), the new owner's forwarding (its keeper's first accepted
 * renewal), and the first answer through it.
 */
import { AGENT_LAB } from "../../fixtures/netns.ts";
import { VpnAgents } from "../../fixtures/vpn-agents.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { checkVpnHistory } from "../../core/vpn/history.ts";

/** One kill, in seconds after the SIGKILL. */
export interface FailoverSplit {
  /** The next epoch granted to the standby (the dead owner's lease ran out). */
  granted_s: number | null;
  /** The new owner's keeper started forwarding (it learnt of the grant and a renewal was accepted). */
  forwarding_s: number | null;
  /** The new owner's egress was up: TUN device, routes, filter, WireGuard tunnel, epoch set (its `vpn forwarding` log line). */
  tunnel_up_s: number | null;
  /** The first ping answered from the office through the new owner. */
  answered_s: number;
}

export interface FailoverResult {
  seconds: number[];
  splits: FailoverSplit[];
  /** History-checker findings over the whole run (0: never two owners, nobody forwarding without a lease). */
  violations: string[];
}

export async function measureFailover(kills: number): Promise<FailoverResult> {
  const run = await VpnAgents.start();
  const seconds: number[] = [];
  const killed: { at: number; epoch: number; output: () => string }[] = [];
  const answers = async () => (await run.inNs("client", ["ping", "-c", "1", "-W", "0.3", AGENT_LAB.office])).status === 0;
  try {
    await waitFor(answers, { timeoutMs: 120_000, what: "the office through the first owner" });
    for (let i = 0; i < kills; i++) {
      const owner = await waitFor(
        async () => {
          const [lease, agent] = [await run.lease(), await run.owner()];
          const standby = [...run.agents.values()].find((a) => a.nodeId === lease.standby_node_id && a.killedAt === null);
          return agent && standby ? agent : null;
        },
        { timeoutMs: 90_000, what: `a running owner and standby (round ${i + 1})` },
      );
      await waitFor(answers, { timeoutMs: 60_000, what: "the office before the kill" });
      const lease0 = await run.lease();
      const epoch = lease0.epoch;
      await run.kill(owner, epoch);
      const standby = [...run.agents.values()].find((a) => a.killedAt === null && a.nodeId === lease0.standby_node_id);
      killed.push({ at: owner.killedAt!, epoch, output: () => standby?.output() ?? "" });
      await waitFor(answers, { timeoutMs: 90_000, what: "the office through the new owner" });
      const s = (Date.now() - owner.killedAt!) / 1000;
      seconds.push(Number(s.toFixed(2)));
      console.log(`failover ${i + 1}/${kills}: ${s.toFixed(2)} s from SIGKILL to the first answer through the new owner`);
      run.restart(owner);
    }
    const facts = await run.facts();
    const violations = checkVpnHistory(facts, { toleranceMs: 1000 }).map((v) => `${v.code}: ${v.message}`);
    const after = (kill: { at: number }, t: string | undefined) => (t ? Number(((Date.parse(t) - kill.at) / 1000).toFixed(2)) : null);
    const splits = killed.map((k, i) => ({
      granted_s: after(k, facts.find((f) => f.kind === "lease.granted" && f.epoch === k.epoch + 1)?.at),
      forwarding_s: after(k, facts.find((f) => f.kind === "forward.started" && f.epoch === k.epoch + 1)?.at),
      tunnel_up_s: after(k, tunnelUpAt(k.output(), k.epoch + 1)),
      answered_s: seconds[i]!,
    }));
    for (const [i, s] of splits.entries()) {
      console.log(`kill ${i + 1}: granted +${s.granted_s} s, forwarding +${s.forwarding_s} s, tunnel up +${s.tunnel_up_s} s, answered +${s.answered_s} s`);
    }
    return { seconds, splits, violations };
  } finally {
    await run.close();
  }
}

/** When an agent's egress logged `vpn forwarding` for `epoch` (its JSON log line's time), if it did. */
function tunnelUpAt(output: string, epoch: number): string | undefined {
  for (const line of output.split("\n")) {
    if (!line.includes('"msg":"vpn forwarding"')) continue;
    try {
      const r = JSON.parse(line) as { time?: string; epoch?: number };
      if (r.epoch === epoch) return r.time;
    } catch {
      // Not a JSON log line.
    }
  }
  return undefined;
}
