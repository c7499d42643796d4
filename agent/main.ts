#!/usr/bin/env bun
/**
 * rap-node-agent: the native node agent.
 *
 *   rap-node-agent enroll --control-plane URL --cluster ID --token TOKEN [--authority-fingerprint SHA256:…] [--name NAME] [--role ROLE]…
 *   rap-node-agent run [--workloads FILE] [--heartbeat-interval SECONDS]
 *   rap-node-agent status [--json]   (without --state-dir and with no state in the default
 *                                    directory: the dev cluster's agents, $DATA_DIR/agents/* or .data/dev-cluster/agents/*)
 *   rap-node-agent leave --cluster ID
 *   rap-node-agent help [COMMAND]   (or --help / -h, on every command too)
 *
 * Common: --state-dir DIR (default $RAP_AGENT_STATE_DIR or /var/lib/rap-node-agent).
 * Help goes to stdout with exit code 0 and touches nothing. Errors print one
 * line with the cause and a fix and exit 1; usage errors (an unknown command
 * or option, a malformed value) print the line and the command's usage and
 * exit 2.
 */
import { chmod, mkdir, readFile, readdir, rm } from "node:fs/promises";
import { existsSync, statSync } from "node:fs";
import * as v from "valibot";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AgentStore } from "./store.ts";
import { enroll } from "./enroll.ts";
import { isNodeRole, NODE_ROLES } from "../core/contracts/roles.ts";
import { AgentError, safeJson } from "./client.ts";
import { explain } from "./retry.ts";
import { DEV_CLUSTER_DATA_DIR } from "./dev-cluster-dir.ts";
import { keyPath } from "./keys.ts";
import type { WorkloadSpec } from "./supervisor.ts";
import type { MeshSettings } from "./mesh/member.ts";
import type { EntrySettings } from "./sessions/roles.ts";
import { Agent } from "./agent.ts";
import { certificateStatus } from "./renew.ts";
import { systemClock as clock, systemRandom as random } from "./clock.ts";
import { EXIT_RESTART, Updater } from "./updates/updater.ts";
import { Slots } from "./updates/slots.ts";
import { restoreStoreIfRolledBack } from "./updates/store-backup.ts";
import { cmdUpdate, UPDATE_USAGE } from "./updates/command.ts";
import { UPDATE_STATES, type UpdateStateName } from "./updates/machine.ts";
import { DEFAULT_DNS_LISTEN, parseHostPort } from "./vpn/dns-stub.ts";
import { vpnStatusLine } from "./vpn/status-text.ts";

const DEFAULT_STATE_DIR = process.env.RAP_AGENT_STATE_DIR ?? "/var/lib/rap-node-agent";

class Usage extends Error {}

const STATE_DIR_HELP = `  --state-dir DIR           where the agent keeps its state (default $RAP_AGENT_STATE_DIR or /var/lib/rap-node-agent)`;

/** Each command's usage: printed by `COMMAND --help` and after a usage error. */
const USAGE: Record<string, string> = {
  enroll: `usage: rap-node-agent enroll --control-plane URL --cluster ID --token TOKEN [options]

Joins this host to a cluster with the join token an administrator gave you
(the console shows the exact command), then waits for approval.

  --control-plane URL       the control plane, e.g. https://cp.example.com
  --cluster ID              the cluster to join
  --token TOKEN             the join token (rap_jt_…)
  --authority-fingerprint SHA256:…
                            the cluster authority to pin (from the console)
  --name NAME               this node's name (default: the host name)
  --role ROLE               a role to ask for, repeatable (${NODE_ROLES.join(", ")})
  --poll-interval SECONDS   how often to ask whether the request is approved (default 5)
  --timeout SECONDS         stop waiting after this long (default 3600); enrol again to resume
${STATE_DIR_HELP}`,
  run: `usage: rap-node-agent run [options]

Runs the agent for every cluster this host is enrolled in: heartbeats, signed
snapshots, certificate renewal, the mesh and the workloads of its roles.
SIGTERM or Ctrl-C stops it.

  --workloads FILE          what to run per role (JSON; default $RAP_AGENT_WORKLOADS_FILE)
  --heartbeat-interval SECONDS
                            how often to heartbeat (default 30)
  --mesh-listen IP:PORT     where the mesh listens (default $RAP_MESH_LISTEN or 0.0.0.0:7443)
  --mesh-advertise HOST:PORT
                            what peers should dial (default $RAP_MESH_ADVERTISE or the bound address)
  --mesh-max-udp-payload BYTES
                            the largest mesh datagram, 1200-8972 (default $RAP_MESH_MAX_UDP_PAYLOAD
                            or 1472); 8972 on a jumbo-frame (MTU 9000) network: path-MTU discovery
                            finds it per peer, and VPN adapters get a larger MTU
  --entry-listen IP:PORT    where an entry node takes clients, UDP (WebTransport) and TCP
                            (WebSocket) on one port (default $RAP_ENTRY_LISTEN or 0.0.0.0:4433)
  --entry-public-host HOST  the host name clients use for this entry (default $RAP_ENTRY_PUBLIC_HOST,
                            else the mesh's advertised host)
  --entry-cert FILE, --entry-key FILE
                            the entry's TLS certificate chain and key (PEM; default $RAP_ENTRY_CERT_FILE
                            and $RAP_ENTRY_KEY_FILE); without them a self-signed certificate valid 14
                            days, renewed weekly, whose hash clients pin
  --vpn-dns-listen IP:PORT  where a vpn-client's DNS stub listens (UDP, TCP; default $RAP_VPN_DNS_LISTEN
                            or 127.0.88.53:53); point the host's resolver at it (docs/vpn.md)
  --vpn-dns-upstream IP[:PORT][,...]
                            the host's resolvers for names outside every DNS route (default
                            $RAP_VPN_DNS_UPSTREAM, else /etc/resolv.conf's nameservers)
${STATE_DIR_HELP}`,
  status: `usage: rap-node-agent status [--json] [--state-dir DIR]

Shows each cluster membership: node, snapshot, roles, health, certificate.

  --json                    everything, as JSON, for scripts
${STATE_DIR_HELP}`,
  update: UPDATE_USAGE,
  leave: `usage: rap-node-agent leave --cluster ID [--state-dir DIR]

Forgets a cluster membership and deletes its key (ask an administrator to
revoke the node too).

  --cluster ID              the cluster to leave
${STATE_DIR_HELP}`,
};

const OVERVIEW = `usage: rap-node-agent COMMAND [options]

  enroll    join this host to a cluster with a join token
  run       run the agent for the clusters this host belongs to
  status    show this host's memberships and health
  leave     forget a membership and delete its key
  update    install the first agent slot, ask for a version, show the update state
  help      this help; \`rap-node-agent COMMAND --help\` for a command's

See docs/agent.md.`;

/** A positive number of seconds from an option, or a usage error. */
function seconds(name: string, value: string | undefined, fallback: string): number {
  const raw = value ?? fallback;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(n > 0)) throw new Usage(`--${name} ${raw}: not a number of seconds`);
  return n;
}

const say = (line: string) => process.stderr.write(`rap-node-agent: ${line}\n`);
const logJson = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ time: clock.now().toISOString(), level: "info", msg, ...fields })}\n`);

async function openStore(stateDir: string): Promise<AgentStore> {
  const fix = "fix: pass --state-dir (or set RAP_AGENT_STATE_DIR to) a directory this user can create or owns";
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    // Keys and state: owner-only, even when the directory already existed (a package may have made it 0755).
    await chmod(stateDir, 0o700);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    const why =
      code === "EEXIST" || code === "ENOTDIR" ? "is not a directory" : code === "EACCES" || code === "EPERM" ? "is not ours to write" : "cannot be used";
    throw new AgentError("state_dir_unusable", `state directory ${stateDir} ${why} (${code}); ${fix}`);
  }
  try {
    return await AgentStore.open(join(stateDir, "state.db"), clock);
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ");
    throw new AgentError(
      "state_dir_unusable",
      `cannot open ${join(stateDir, "state.db")}: ${reason}; fix: check --state-dir; if the file is damaged, move it away and enrol this host again`,
    );
  }
}

async function cmdEnroll(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "control-plane": { type: "string" },
      cluster: { type: "string" },
      token: { type: "string" },
      "authority-fingerprint": { type: "string" },
      name: { type: "string" },
      role: { type: "string", multiple: true },
      "state-dir": { type: "string" },
      "poll-interval": { type: "string" },
      timeout: { type: "string" },
    },
    strict: true,
  });
  const url = values["control-plane"];
  if (!url || !values.cluster || !values.token)
    throw new Usage("enroll needs --control-plane URL --cluster ID --token TOKEN (the join token command from the admin console)");
  if (!/^https?:\/\/[^/\s]+/.test(url)) throw new Usage(`--control-plane ${url}: not an http(s) URL (e.g. https://cp.example.com)`);
  const pollSeconds = seconds("poll-interval", values["poll-interval"], process.env.RAP_ENROLLMENT_POLL_INTERVAL_SECONDS || "5");
  const timeoutSeconds = seconds("timeout", values.timeout, process.env.RAP_ENROLLMENT_POLL_TIMEOUT_SECONDS || "3600");
  const requestedRoles = values.role ?? [];
  const unknownRole = requestedRoles.find((r) => !isNodeRole(r));
  if (unknownRole) throw new Usage(`--role ${unknownRole}: not a node role (one of ${NODE_ROLES.join(", ")})`);
  const stateDir = values["state-dir"] ?? DEFAULT_STATE_DIR;
  const store = await openStore(stateDir);
  try {
    const m = await enroll(store, {
      controlPlaneUrl: url.replace(/\/$/, ""),
      clusterId: values.cluster,
      token: values.token,
      authorityFingerprint: values["authority-fingerprint"] ?? null,
      nodeName:
        values.name ??
        hostname()
          .replace(/[^A-Za-z0-9._-]/g, "-")
          .slice(0, 63),
      stateDir,
      requestedRoles: requestedRoles.filter(isNodeRole),
      pollIntervalMs: pollSeconds * 1000,
      timeoutMs: timeoutSeconds * 1000,
      progress: say,
      clock,
      random,
    });
    say(`enrolled in cluster ${m.clusterId} as node ${m.nodeId}; start it with \`rap-node-agent run\``);
    return 0;
  } finally {
    store.close();
  }
}

async function loadWorkloads(file: string | undefined): Promise<Record<string, WorkloadSpec>> {
  if (!file) return {};
  const text = await readFile(file, "utf8").catch(() => {
    throw new AgentError("workloads_unreadable", `cannot read workloads file ${file}`);
  });
  const r = v.safeParse(WorkloadsFile, safeJson(text));
  if (!r.success)
    throw new AgentError(
      "workloads_invalid",
      `workloads file ${file} is invalid: ${v.getDotPath(r.issues[0]) ?? ""} ${r.issues[0].message}; fix: {"relay-node": {"command": ["/usr/bin/relay"]}}`,
    );
  return r.output;
}

const WorkloadsFile = v.record(
  v.string(),
  v.strictObject({
    command: v.pipe(v.array(v.string()), v.minLength(1)),
    version: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._+-]{1,64}$/))),
    env: v.optional(v.record(v.string(), v.string())),
    health: v.optional(v.strictObject({ url: v.pipe(v.string(), v.url()), interval_seconds: v.optional(v.pipe(v.number(), v.minValue(1), v.maxValue(3600))) })),
  }),
);

async function cmdRun(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "state-dir": { type: "string" },
      "heartbeat-interval": { type: "string" },
      workloads: { type: "string" },
      "mesh-listen": { type: "string" },
      "mesh-advertise": { type: "string" },
      "mesh-max-udp-payload": { type: "string" },
      "entry-listen": { type: "string" },
      "entry-public-host": { type: "string" },
      "entry-cert": { type: "string" },
      "entry-key": { type: "string" },
      "vpn-dns-listen": { type: "string" },
      "vpn-dns-upstream": { type: "string" },
    },
    strict: true,
  });
  const stateDir = values["state-dir"] ?? DEFAULT_STATE_DIR;
  const vpnDns = vpnDnsSettings(values["vpn-dns-listen"], values["vpn-dns-upstream"]);
  const intervalMs = seconds("heartbeat-interval", values["heartbeat-interval"], "30") * 1000;
  const mesh = meshSettings(values["mesh-listen"], values["mesh-advertise"], values["mesh-max-udp-payload"]);
  mesh.entry = entrySettings(values, mesh);
  const registry = await loadWorkloads(values.workloads ?? process.env.RAP_AGENT_WORKLOADS_FILE);
  // Before anything opens the store: an update that migrated it and then went back gets its backup restored.
  const updatesDir = process.env.RAP_AGENT_UPDATES_DIR;
  if (updatesDir && process.env.RAP_UPDATE_TRUSTED_ROOT) {
    const running = await new Slots(updatesDir).view().catch(() => undefined);
    const restored = running && (await restoreStoreIfRolledBack(updatesDir, stateDir, running.version));
    if (restored) logJson(restored);
  }
  const store = await openStore(stateDir);
  let exitCode = 0;
  try {
    let finish: (code: number) => void = () => {};
    const stopped = new Promise<number>((resolve) => {
      finish = resolve;
      process.on("SIGINT", () => resolve(0));
      process.on("SIGTERM", () => resolve(0));
    });
    const updater = await openUpdater((code) => finish(code), store, stateDir);
    // The workloads the running release installed take the place of the configured commands for their roles.
    const fromRelease = (await updater?.workloadSpecs()) ?? {};
    if (Object.keys(fromRelease).length) logJson("workloads from the release", { roles: Object.keys(fromRelease), version: updater?.status().current });
    const agent = await Agent.start({
      store,
      stateDir,
      heartbeatIntervalMs: intervalMs,
      registry: { ...registry, ...fromRelease },
      mesh,
      vpnDns,
      log: logJson,
      clock,
      random,
      updater,
    });
    exitCode = await stopped;
    await agent.stop();
  } finally {
    store.close();
  }
  return exitCode;
}

/**
 * The self-update driver, when the agent runs from the launcher's A/B slots
 * (RAP_AGENT_UPDATES_DIR, set by agent/packaging/rap-agent-launcher) with a
 * trusted root and update sources configured; otherwise none (docs/updates.md).
 */
async function openUpdater(exit: (code: number) => void, store: AgentStore, stateDir: string): Promise<Updater | undefined> {
  const env = process.env;
  const dir = env.RAP_AGENT_UPDATES_DIR;
  if (!dir || !env.RAP_UPDATE_TRUSTED_ROOT) return undefined;
  const holdFile = env.RAP_AGENT_TEST_HOLD_UPDATE_AT_FILE;
  let holdAt: UpdateStateName | undefined;
  if (holdFile) {
    const text = (await readFile(holdFile, "utf8").catch(() => "")).trim();
    holdAt = (UPDATE_STATES as readonly string[]).includes(text) ? (text as UpdateStateName) : undefined;
  }
  return Updater.open({
    dir,
    trustedRootFile: env.RAP_UPDATE_TRUSTED_ROOT,
    sources: (env.RAP_UPDATE_SOURCES ?? "").split(",").filter((s) => s.length > 0),
    store: { stateDir, backupTo: (file) => store.backupTo(file) },
    roles: async () => {
      const roles = new Set<string>();
      for (const m of await store.memberships()) if (m.status === "enrolled") for (const a of await store.assignments(m.clusterId)) roles.add(a.serviceType);
      return [...roles];
    },
    host: { os: "linux", arch: process.arch === "arm64" ? "arm64" : "x64" },
    now: () => clock.now(),
    log: logJson,
    restart: () => exit(EXIT_RESTART),
    healthTimeoutMs: Number(env.RAP_UPDATE_HEALTH_TIMEOUT_SECONDS ?? "120") * 1000,
    holdAt,
  });
}

/** Mesh settings from flags and the environment (tuning knobs are for tests and labs). */
function meshSettings(listen: string | undefined, advertise: string | undefined, maxUdpPayload: string | undefined): MeshSettings {
  const env = process.env;
  const num = (name: string) => (env[name] !== undefined && env[name] !== "" ? Number(env[name]) : undefined);
  const settings: MeshSettings = {
    listen: listen ?? env.RAP_MESH_LISTEN ?? "0.0.0.0:7443",
    advertise: advertise ?? env.RAP_MESH_ADVERTISE,
    refuseFile: env.RAP_MESH_REFUSE_FILE,
    tickMs: num("RAP_MESH_TICK_MS"),
    linkReportMs: num("RAP_MESH_LINK_REPORT_MS"),
    shortcutProbationMs: num("RAP_MESH_SHORTCUT_PROBATION_MS"),
    assignmentPollMs: num("RAP_SESSION_ASSIGNMENT_POLL_MS"),
  };
  if (!/^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(settings.listen)) throw new Usage(`--mesh-listen ${settings.listen} is not IP:port`);
  if (settings.advertise !== undefined && !/^[A-Za-z0-9.:[\]-]{1,255}:\d{1,5}$/.test(settings.advertise))
    throw new Usage(`--mesh-advertise ${settings.advertise} is not HOST:PORT`);
  const payload = maxUdpPayload ?? env.RAP_MESH_MAX_UDP_PAYLOAD;
  if (payload !== undefined && payload !== "") {
    if (!/^\d{4}$/.test(payload) || Number(payload) < 1200 || Number(payload) > 8972)
      throw new Usage(`--mesh-max-udp-payload ${payload} is not a number of bytes from 1200 to 8972`);
    settings.maxUdpPayload = Number(payload);
  }
  const shortcut = {
    minFlowMs: num("RAP_MESH_SHORTCUT_MIN_FLOW_MS"),
    minRouteLatencyMs: num("RAP_MESH_SHORTCUT_MIN_ROUTE_LATENCY_MS"),
    minGain: num("RAP_MESH_SHORTCUT_MIN_GAIN"),
  };
  settings.shortcut = Object.fromEntries(Object.entries(shortcut).filter(([, v]) => v !== undefined && Number.isFinite(v)));
  return settings;
}

/** The VPN client's DNS stub from flags and the environment (docs/vpn.md "DNS routes"). */
function vpnDnsSettings(listen: string | undefined, upstream: string | undefined): { listen: string; upstreams: string[] } {
  const settings = {
    listen: listen ?? process.env.RAP_VPN_DNS_LISTEN ?? DEFAULT_DNS_LISTEN,
    upstreams: (upstream ?? process.env.RAP_VPN_DNS_UPSTREAM ?? "").split(",").filter((s) => s.length > 0),
  };
  if (!/:\d{1,5}$/.test(settings.listen) || !parseHostPort(settings.listen)) throw new Usage(`--vpn-dns-listen ${settings.listen} is not IP:port`);
  for (const u of settings.upstreams) if (!parseHostPort(u)) throw new Usage(`--vpn-dns-upstream ${u} is not an IP address (or IP:port)`);
  return settings;
}

/** Entry-node settings from flags and the environment. */
function entrySettings(values: Record<string, string | boolean | undefined>, mesh: MeshSettings): EntrySettings {
  const env = process.env;
  const flag = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);
  const listen = flag("entry-listen") ?? env.RAP_ENTRY_LISTEN ?? "0.0.0.0:4433";
  if (!/^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(listen)) throw new Usage(`--entry-listen ${listen} is not IP:port`);
  const advertisedHost = mesh.advertise?.slice(0, mesh.advertise.lastIndexOf(":"));
  const publicHost = flag("entry-public-host") ?? env.RAP_ENTRY_PUBLIC_HOST ?? advertisedHost;
  if (publicHost !== undefined && !/^[A-Za-z0-9.\-[\]:]{1,253}$/.test(publicHost)) throw new Usage(`--entry-public-host ${publicHost} is not a host name`);
  const certFile = flag("entry-cert") ?? env.RAP_ENTRY_CERT_FILE;
  const keyFile = flag("entry-key") ?? env.RAP_ENTRY_KEY_FILE;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Usage("--entry-cert and --entry-key go together");
  return { listen, publicHost, certFile, keyFile };
}

/**
 * The state directories `status` reads: --state-dir, else $RAP_AGENT_STATE_DIR
 * or the default directory when it holds state, else the dev cluster's agents
 * (`scripts/start --agents` keeps them in $DATA_DIR/agents/agent-<i>, DATA_DIR
 * defaulting to .data).
 */
async function statusDirs(flag: string | undefined): Promise<string[]> {
  if (flag) return [flag];
  if (process.env.RAP_AGENT_STATE_DIR || existsSync(join(DEFAULT_STATE_DIR, "state.db"))) return [DEFAULT_STATE_DIR];
  const dev = join(process.env.DATA_DIR ?? DEV_CLUSTER_DATA_DIR, "agents");
  const found = (await readdir(dev).catch(() => [] as string[]))
    .map((d) => join(dev, d))
    .filter((d) => existsSync(join(d, "state.db")))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  return found.length ? found : [DEFAULT_STATE_DIR];
}

async function cmdStatus(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: "boolean" }, "state-dir": { type: "string" } }, strict: true });
  const dirs = await statusDirs(values["state-dir"]);
  // A state directory that is not a directory is an error (openStore says which and the fix), not "nothing enrolled".
  if (dirs.length === 1 && existsSync(dirs[0]!) && !statSync(dirs[0]!).isDirectory()) await openStore(dirs[0]!);
  if (dirs.length === 1 && !existsSync(join(dirs[0]!, "state.db"))) {
    // Nothing to read: say so without creating the directory.
    if (values.json) process.stdout.write(`${JSON.stringify({ memberships: [] }, null, 2)}\n`);
    else process.stdout.write(`not enrolled in any cluster (no state in ${dirs[0]}; another directory: --state-dir DIR)\n`);
    return 0;
  }
  const out = [];
  for (const dir of dirs) out.push(...(await membershipsIn(dir, dirs.length > 1)));
  if (values.json) process.stdout.write(`${JSON.stringify({ memberships: out }, null, 2)}\n`);
  else if (out.length === 0) process.stdout.write("not enrolled in any cluster\n");
  else
    for (const m of out) {
      const peers = (m.mesh as { peers?: { channel?: string }[] } | null)?.peers;
      const mesh = peers ? `  mesh peers ${peers.length} (${peers.filter((p) => p.channel === "established").length} established)` : "";
      process.stdout.write(
        `${m.state_dir ? `${m.state_dir}: ` : ""}${m.cluster_id}  ${m.status}  node ${m.node_id ?? "-"} (${m.node_name})  snapshot v${m.snapshot_version ?? "-"}  roles [${m.roles.join(", ")}]${mesh}  ${m.degraded ? "DEGRADED" : "ok"}${certificateLine(m.certificate)}${m.last_error ? `  last error: ${m.last_error}` : ""}${vpnStatusLine((m.mesh as { vpn?: unknown } | null)?.vpn)}\n`,
      );
    }
  return 0;
}

/** One state directory's memberships as `status` shows them (`state_dir` only when several directories are shown). */
async function membershipsIn(stateDir: string, named: boolean) {
  const store = await openStore(stateDir);
  try {
    const out = [];
    for (const m of await store.memberships()) {
      const snap = await store.snapshot(m.clusterId);
      const health = await store.health(m.clusterId);
      out.push({
        cluster_id: m.clusterId,
        status: m.status,
        node_id: m.nodeId,
        node_name: m.nodeName,
        join_request_id: m.joinRequestId,
        fingerprint: m.fingerprint,
        authority_fingerprint: m.pinnedAuthorityFingerprint,
        control_plane: m.controlPlaneUrl,
        snapshot_version: snap?.version ?? null,
        roles: (await store.assignments(m.clusterId)).map((a) => a.serviceType),
        peers: (await store.peers(m.clusterId)).length,
        relay_routes: (await store.routes(m.clusterId)).length,
        degraded: health ? !health.controlPlaneReachable : false,
        last_heartbeat_at: health?.lastHeartbeatAt ?? null,
        last_error: health?.lastError ?? null,
        certificate: certificateStatus(m.certificatePem, await store.certificateRenewal(m.clusterId), clock.now()),
        mesh: (await store.meshStatus(m.clusterId))?.body ?? null,
        ...(named ? { state_dir: stateDir } : {}),
      });
    }
    return out;
  } finally {
    store.close();
  }
}

function certificateLine(c: ReturnType<typeof certificateStatus>): string {
  if (!c) return "";
  const failing = c.renewal_failures > 0 ? ` (renewal failed ${c.renewal_failures}×: ${c.last_error})` : "";
  if (c.state === "expired") return `  CERTIFICATE EXPIRED ${c.not_after}${failing}`;
  return `  certificate until ${c.not_after}${failing || `, renews ${c.renew_at}`}`;
}

async function cmdLeave(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { cluster: { type: "string" }, "state-dir": { type: "string" } }, strict: true });
  if (!values.cluster) throw new Usage("leave needs --cluster ID");
  const stateDir = values["state-dir"] ?? DEFAULT_STATE_DIR;
  const store = await openStore(stateDir);
  try {
    if (!(await store.membership(values.cluster))) throw new AgentError("not_enrolled", `not a member of cluster ${values.cluster}`);
    await store.removeMembership(values.cluster);
    await rm(keyPath(stateDir, values.cluster), { force: true });
    say(`left cluster ${values.cluster}: local state and key removed (ask an admin to revoke the node too)`);
    return 0;
  } finally {
    store.close();
  }
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = { enroll: cmdEnroll, run: cmdRun, status: cmdStatus, leave: cmdLeave, update: cmdUpdate };

/** What to do next for an error the agent cannot fix itself, when its message does not say already. */

const isHelp = (arg: string) => arg === "--help" || arg === "-h";

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && (isHelp(command) || command === "help")) {
    const about = command === "help" ? rest[0] : undefined;
    if (about !== undefined && !USAGE[about]) {
      say(`help: no command ${about}`);
      process.stderr.write(`${OVERVIEW}\n`);
      return 2;
    }
    process.stdout.write(`${about ? USAGE[about] : OVERVIEW}\n`);
    return 0;
  }
  const run = command ? COMMANDS[command] : undefined;
  if (!run) {
    say(command === undefined ? "a command is needed" : command.startsWith("-") ? `unknown option '${command}'` : `unknown command '${command}'`);
    process.stderr.write(`${OVERVIEW}\n`);
    return 2;
  }
  // Before anything is parsed or opened: help has no side effects.
  if (rest.some(isHelp)) {
    process.stdout.write(`${USAGE[command!]}\n`);
    return 0;
  }
  try {
    return await run(rest);
  } catch (err) {
    if (err instanceof Usage || (err as { code?: string }).code?.startsWith?.("ERR_PARSE_ARGS")) {
      say((err as Error).message);
      process.stderr.write(`${USAGE[command!]}\n`);
      return 2;
    }
    if (err instanceof AgentError) {
      say(`${explain(err)} (${err.code})`);
      return 1;
    }
    say(`unexpected error: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ")}; fix: report it with the command you ran`);
    return 1;
  }
}

process.exit(await main(process.argv.slice(2)));
