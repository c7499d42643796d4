/**
 * Managed SSH sessions routed through a VPN connection, with real agents and
 * a real control plane in network namespaces (fixtures/vpn-agents.ts with
 * `sessions`): the client node also runs `entry-node` and `ssh-worker`; a real
 * sshd listens in the office namespace, reachable only through the office's
 * WireGuard gateway; the resource names the connection. The adapter dials
 * the target through the lease's current owner (a mesh dial stream, the
 * owner's TCP goes into its WireGuard tunnel). Proves: the session starts
 * (sshd accepts the adapter's key) and the owner counted the dial; a resource
 * the policy does not allow is refused when written; once the policy stops
 * allowing SSH, a new session fails with `adapter.vpn_not_allowed`; when the
 * owner is killed, the session running through it ends, and a new session
 * goes through the new owner.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../../fixtures/test.ts";
import { AGENT_LAB, vpnLabUnavailable } from "../../fixtures/netns.ts";
import { startSshd, type TestSshd } from "../../fixtures/sshd.ts";
import { VpnAgents } from "../../fixtures/vpn-agents.ts";
import { waitFor } from "../../fixtures/wait.ts";

setDefaultTimeout(240_000);

const unavailable = vpnLabUnavailable();
if (unavailable) console.warn(`vpn-sessions.e2e.test.ts skipped: ${unavailable}`);

const SSH_PORT = 2222;
let run: VpnAgents;
let sshd: TestSshd;
let resourceId: string;
/** The session of the first test, left running through the first owner. */
let running: string;
/** A started session: active when its creator is attached as controller, detached when not. */
const STARTED = ["active", "detached"];

const routing = (services: string[]) => ({ ...run.config.routing, services });

beforeAll(async () => {
  if (unavailable) return;
  run = await VpnAgents.start({ sessions: true });
  sshd = await startSshd({ netns: { name: run.lab.lab.ns.office, listen: AGENT_LAB.office, port: SSH_PORT } });
  await run.cluster.api("PUT", `/api/v1/organizations/${run.orgId}/vpn-connections/${run.connectionId}`, {
    ...run.config,
    routing: routing(["ip_tunnel", "ssh"]),
  });
  resourceId = (
    await run.cluster.api("POST", "/api/v1/resources", {
      organization_id: run.orgId,
      name: "office-shell",
      protocol: "ssh",
      target_host: AGENT_LAB.office,
      target_port: SSH_PORT,
      egress_pool: "office",
      host_key_fingerprint: sshd.hostKeyFingerprint,
      vpn_connection_id: run.connectionId,
      secret: { username: sshd.username, private_key: sshd.userKey },
    })
  ).id;
}, 240_000);

afterAll(async () => {
  await sshd?.stop();
  await run?.close(!!process.env.VPN_E2E_LOGS);
});

const sessionState = async (id: string) => (await run.cluster.api("GET", `/api/v1/remote-sessions/${id}`)) as { state: string; failure_code?: string };

/** Starts a session of the routed resource and waits until the adapter started it (or it failed). */
async function startSession(): Promise<{ id: string; state: string; failure_code?: string }> {
  const created = await run.cluster.api("POST", "/api/v1/remote-sessions", { resource_id: resourceId });
  const id = created.session.id as string;
  const s = await waitFor(
    async () => {
      const x = await sessionState(id);
      return ["active", "detached", "failed", "terminated"].includes(x.state) ? x : null;
    },
    { timeoutMs: 60_000, what: "the adapter starting the session" },
  );
  return { id, ...s };
}

async function dials(): Promise<number> {
  const owner = await run.owner();
  return owner ? Number((await run.counters(owner))?.dials ?? 0) : 0;
}

describe.skipIf(!!unavailable)("managed SSH sessions through a VPN connection's owner", () => {
  test("an SSH session to the office starts through the owner's WireGuard; the owner counted the dial", async () => {
    await waitFor(() => run.ping(AGENT_LAB.office), { timeoutMs: 90_000, what: "the owner forwarding into the office" });
    const s = await startSession();
    expect(STARTED).toContain(s.state);
    expect(sshd.log()).toContain("Accepted publickey");
    await waitFor(async () => (await dials()) >= 1, { timeoutMs: 15_000, what: "the owner's dial counter" });
    running = s.id;
  });

  test("a resource the policy does not allow is refused when written, and changes nothing", async () => {
    const refused = await run.cluster.as(run.cluster.token, "POST", "/api/v1/resources", {
      organization_id: run.orgId,
      name: "office-denied",
      protocol: "ssh",
      target_host: AGENT_LAB.officeDenied,
      target_port: SSH_PORT,
      egress_pool: "office",
      vpn_connection_id: run.connectionId,
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("resource.vpn_not_allowed");
  });

  test("once the policy stops allowing SSH, a new session fails with adapter.vpn_not_allowed", async () => {
    const put = (services: string[]) =>
      run.cluster.api("PUT", `/api/v1/organizations/${run.orgId}/vpn-connections/${run.connectionId}`, { ...run.config, routing: routing(services) });
    await put(["ip_tunnel"]);
    try {
      const s = await startSession();
      expect(s.state).toBe("failed");
      expect(s.failure_code).toBe("adapter.vpn_not_allowed");
    } finally {
      await put(["ip_tunnel", "ssh"]);
    }
  });

  test("when the owner is killed the session through it ends; a new session goes through the new owner", async () => {
    const owner = (await run.owner())!;
    const { epoch } = await run.lease();
    await run.kill(owner, epoch);
    // The session running through the dead owner ends (its dial stream went with the owner's connection).
    await waitFor(async () => (await sessionState(running)).state === "terminated", { timeoutMs: 60_000, what: "the running session ending" });
    const next = await waitFor(
      async () => {
        const l = await run.lease();
        return l.owner_node_id && l.owner_node_id !== owner.nodeId && l.epoch > epoch ? l : null;
      },
      { timeoutMs: 60_000, what: "a new owner" },
    );
    await waitFor(() => run.ping(AGENT_LAB.office), { timeoutMs: 60_000, what: "the new owner forwarding" });
    const s = await startSession();
    expect(STARTED).toContain(s.state);
    const newOwner = [...run.agents.values()].find((a) => a.nodeId === next.owner_node_id)!;
    // `rap-node-agent status` is saved every second: wait for the new owner's count.
    await waitFor(async () => Number((await run.counters(newOwner))?.dials ?? 0) >= 1, { timeoutMs: 15_000, what: "the new owner's dial counter" });
  });
});
