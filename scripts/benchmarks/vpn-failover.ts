/**
 * VPN failover with real agents (part of `scripts/bench vpn`): the harness of
 * fixtures/vpn-agents.ts (a control plane, two candidate owners and a client,
 * each a real agent in its own network namespace). Each round waits until a
 * standby is set, SIGKILLs the owner, and times from the kill to the first
 * ping answered from the office through the new owner: one `ping` runs in
 * the client's namespace through each round, a request every 50 ms with the
 * kernel's timestamp on each reply (`-D`), and the first reply to a request
 * sent after the kill is the answer (so the resolution is 50 ms, and no
 * process start on a loaded host delays the figure); then it restarts the
 * killed agent, which becomes the next round's standby once the client's
 * mesh reaches it (a channel to it established). The whole run's
 * facts go through the history checker (no tolerance: every recorder reads
 * this host's clock), and each kill is split into its
 * parts from the recorded facts: the dead owner's lease running out (the new
 * epoch's grant), the new owner's forwarding (its keeper's first accepted
 * renewal), and the first answer through it.
 */
import { AGENT_LAB } from "../../fixtures/netns.ts";
import { VpnAgents } from "../../fixtures/vpn-agents.ts";
import { waitFor } from "../../fixtures/wait.ts";
import { collectOutput } from "../../fixtures/process.ts";
import { checkVpnHistory } from "../../core/vpn/history.ts";

/** One kill, in seconds after the SIGKILL. */
export interface FailoverSplit {
  /** The next epoch granted to the standby (the dead owner's lease ran out). */
  granted_s: number | null;
  /** The new owner's keeper started forwarding (it learnt of the grant and a renewal was accepted). */
  forwarding_s: number | null;
  /** The new owner's egress was up: TUN device, routes, filter, WireGuard tunnel, epoch set (its `vpn forwarding` log line). */
  tunnel_up_s: number | null;
  /** The client re-pointed its pump to the new owner and epoch (its `vpn client follows the owner` log line). */
  client_follows_s: number | null;
  /** The first ping answered from the office through the new owner (the figure). */
  answered_s: number;
}

export interface FailoverResult {
  seconds: number[];
  /**
   * Owners that stopped on their own because no renewal got through in time (`cannot_renew`). Nobody is cut off in
   * this run, so each is a needless stop: the price of a TTL too short for the host's load.
   */
  self_stops: number;
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
    const clientNodeId = run.agents.get("client")?.nodeId ?? "";
    for (let i = 0; i < kills; i++) {
      const owner = await waitFor(
        async () => {
          const [lease, agent] = [await run.lease(), await run.owner()];
          const standby = [...run.agents.values()].find((a) => a.nodeId === lease.standby_node_id && a.killedAt === null);
          // Ready means reachable from the client too: a standby restarted moments ago is reached only once the client's
          // mesh dropped its channel to the dead incarnation (the mesh heartbeat timeout), which is not failover time.
          return agent && standby && meshChannelTo(standby.output(), clientNodeId) ? agent : null;
        },
        { timeoutMs: 90_000, what: `a running owner and standby (round ${i + 1})` },
      );
      await waitFor(answers, { timeoutMs: 60_000, what: "the office before the kill" });
      const pinger = run.lab.lab.start("client", ["ping", "-D", "-n", "-i", "0.05", "-W", "1", AGENT_LAB.office]);
      const pings = collectOutput(pinger);
      await waitFor(() => pings().includes("bytes from"), { timeoutMs: 10_000, what: "the round's pings answered" });
      const lease0 = await run.lease();
      const epoch = lease0.epoch;
      await run.kill(owner, epoch);
      const standby = [...run.agents.values()].find((a) => a.killedAt === null && a.nodeId === lease0.standby_node_id);
      killed.push({ at: owner.killedAt!, epoch, output: () => standby?.output() ?? "" });
      const killedAt = owner.killedAt!;
      const answeredAt = await waitFor(() => firstReplySentAfter(pings(), killedAt), { timeoutMs: 90_000, what: "the office through the new owner" });
      pinger.kill("SIGKILL");
      await pinger.exited;
      const s = (answeredAt - killedAt) / 1000;
      seconds.push(Number(s.toFixed(2)));
      console.log(`failover ${i + 1}/${kills}: ${s.toFixed(2)} s from SIGKILL to the first answer through the new owner`);
      run.restart(owner);
    }
    const facts = await run.facts();
    const violations = checkVpnHistory(facts, { toleranceMs: 0 }).map((v) => `${v.code}: ${v.message}`);
    const after = (kill: { at: number }, t: string | undefined) => (t ? Number(((Date.parse(t) - kill.at) / 1000).toFixed(2)) : null);
    const client = run.agents.get("client");
    const splits = killed.map((k, i) => ({
      granted_s: after(k, facts.find((f) => f.kind === "lease.granted" && f.epoch === k.epoch + 1)?.at),
      forwarding_s: after(k, facts.find((f) => f.kind === "forward.started" && f.epoch === k.epoch + 1)?.at),
      tunnel_up_s: after(k, loggedAt(k.output(), "vpn forwarding", k.epoch + 1)),
      client_follows_s: after(k, loggedAt(client?.output() ?? "", "vpn client follows the owner", k.epoch + 1)),
      answered_s: seconds[i]!,
    }));
    if (process.env.VPN_FAILOVER_DEBUG) {
      for (const [i, k] of killed.entries()) {
        const window = (out: string) =>
          out
            .split("\n")
            .filter((l) => {
              const t = Date.parse(/"time":"([^"]+)"/.exec(l)?.[1] ?? "");
              return t >= k.at - 500 && t <= k.at + seconds[i]! * 1000 + 200;
            })
            .join("\n");
        console.log(`--- kill ${i + 1} at ${new Date(k.at).toISOString()}\n[new owner]\n${window(k.output())}\n[client]\n${window(client?.output() ?? "")}`);
      }
    }
    for (const [i, s] of splits.entries()) {
      console.log(
        `kill ${i + 1}: granted +${s.granted_s} s, forwarding +${s.forwarding_s} s, tunnel up +${s.tunnel_up_s} s, client follows +${s.client_follows_s} s, answered +${s.answered_s} s`,
      );
    }
    const selfStops = facts.filter((f) => f.kind === "forward.stopped" && f.reason === "cannot_renew").length;
    console.log(`owners that stopped on their own (cannot_renew) during the run: ${selfStops}`);
    return { seconds, self_stops: selfStops, splits, violations };
  } finally {
    await run.close();
  }
}

/** When an agent logged `msg` for `epoch` (its JSON log line's time), if it did. */
function loggedAt(output: string, msg: string, epoch: number): string | undefined {
  for (const line of output.split("\n")) {
    if (!line.includes(`"msg":${JSON.stringify(msg)}`)) continue;
    try {
      const r = JSON.parse(line) as { time?: string; epoch?: number };
      if (r.epoch === epoch) return r.time;
    } catch {
      // Not a JSON log line.
    }
  }
  return undefined;
}

/**
 * The time (ms since the epoch) of the first reply in `ping -D` output to a request sent after `afterMs`; null: none
 * yet. A reply's line holds its arrival time and round trip, so its request left at arrival − round trip.
 */
function firstReplySentAfter(output: string, afterMs: number): number | null {
  for (const m of output.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .* time=([\d.]+) ms$/gm)) {
    const arrived = Number(m[1]) * 1000;
    if (arrived - Number(m[2]) > afterMs) return arrived;
  }
  return null;
}

/** Whether an agent's output shows a mesh channel established with `peer`. */
function meshChannelTo(output: string, peer: string): boolean {
  return output.split("\n").some((l) => l.includes('"msg":"mesh channel established"') && l.includes(`"peer":"${peer}"`));
}
