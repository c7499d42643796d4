#!/usr/bin/env bun
/**
 * rap-node-agent: the native node agent.
 *
 *   rap-node-agent enroll --control-plane URL --cluster ID --token TOKEN [--authority-fingerprint SHA256:…] [--name NAME] [--role ROLE]…
 *   rap-node-agent run [--workloads FILE] [--heartbeat-interval SECONDS]
 *   rap-node-agent status [--json]
 *   rap-node-agent leave --cluster ID
 *
 * Common: --state-dir DIR (default $RAP_AGENT_STATE_DIR or /var/lib/rap-node-agent).
 * Errors print one line with the cause and a fix and exit 1; usage errors exit 2.
 */
import { chmod, mkdir, readFile, rm } from "node:fs/promises";
import * as v from "valibot";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AgentStore } from "./store.ts";
import { enroll } from "./enroll.ts";
import { isNodeRole, NODE_ROLES } from "../core/contracts/roles.ts";
import { AgentError, safeJson } from "./client.ts";
import { keyPath } from "./keys.ts";
import type { WorkloadSpec } from "./supervisor.ts";
import type { MeshSettings } from "./mesh/member.ts";
import { Agent } from "./agent.ts";
import { certificateStatus } from "./renew.ts";
import { systemClock as clock, systemRandom as random } from "./clock.ts";

const DEFAULT_STATE_DIR = process.env.RAP_AGENT_STATE_DIR ?? "/var/lib/rap-node-agent";

class Usage extends Error {}

const say = (line: string) => process.stderr.write(`rap-node-agent: ${line}\n`);
const logJson = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stdout.write(`${JSON.stringify({ time: clock.now().toISOString(), level: "info", msg, ...fields })}\n`);

async function openStore(stateDir: string): Promise<AgentStore> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  // Keys and state: owner-only, even when the directory already existed (a package may have made it 0755).
  await chmod(stateDir, 0o700);
  return AgentStore.open(join(stateDir, "state.db"), clock);
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
      pollIntervalMs: Number(values["poll-interval"] ?? process.env.RAP_ENROLLMENT_POLL_INTERVAL_SECONDS ?? "5") * 1000,
      timeoutMs: Number(values.timeout ?? process.env.RAP_ENROLLMENT_POLL_TIMEOUT_SECONDS ?? "3600") * 1000,
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
    },
    strict: true,
  });
  const stateDir = values["state-dir"] ?? DEFAULT_STATE_DIR;
  const intervalMs = Number(values["heartbeat-interval"] ?? "30") * 1000;
  const mesh = meshSettings(values["mesh-listen"], values["mesh-advertise"]);
  const registry = await loadWorkloads(values.workloads ?? process.env.RAP_AGENT_WORKLOADS_FILE);
  const store = await openStore(stateDir);
  try {
    const agent = await Agent.start({ store, stateDir, heartbeatIntervalMs: intervalMs, registry, mesh, log: logJson, clock, random });
    await new Promise<void>((resolve) => {
      process.on("SIGINT", resolve);
      process.on("SIGTERM", resolve);
    });
    await agent.stop();
  } finally {
    store.close();
  }
  return 0;
}

/** Mesh settings from flags and the environment (tuning knobs are for tests and labs). */
function meshSettings(listen: string | undefined, advertise: string | undefined): MeshSettings {
  const env = process.env;
  const num = (name: string) => (env[name] !== undefined && env[name] !== "" ? Number(env[name]) : undefined);
  const settings: MeshSettings = {
    listen: listen ?? env.RAP_MESH_LISTEN ?? "0.0.0.0:7443",
    advertise: advertise ?? env.RAP_MESH_ADVERTISE,
    refuseFile: env.RAP_MESH_REFUSE_FILE,
    tickMs: num("RAP_MESH_TICK_MS"),
    linkReportMs: num("RAP_MESH_LINK_REPORT_MS"),
    shortcutProbationMs: num("RAP_MESH_SHORTCUT_PROBATION_MS"),
  };
  if (!/^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(settings.listen)) throw new Usage(`--mesh-listen ${settings.listen} is not IP:port`);
  if (settings.advertise !== undefined && !/^[A-Za-z0-9.:[\]-]{1,255}:\d{1,5}$/.test(settings.advertise))
    throw new Usage(`--mesh-advertise ${settings.advertise} is not HOST:PORT`);
  const shortcut = {
    minFlowMs: num("RAP_MESH_SHORTCUT_MIN_FLOW_MS"),
    minRouteLatencyMs: num("RAP_MESH_SHORTCUT_MIN_ROUTE_LATENCY_MS"),
    minGain: num("RAP_MESH_SHORTCUT_MIN_GAIN"),
  };
  settings.shortcut = Object.fromEntries(Object.entries(shortcut).filter(([, v]) => v !== undefined && Number.isFinite(v)));
  return settings;
}

async function cmdStatus(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: "boolean" }, "state-dir": { type: "string" } }, strict: true });
  const store = await openStore(values["state-dir"] ?? DEFAULT_STATE_DIR);
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
      });
    }
    if (values.json) process.stdout.write(`${JSON.stringify({ memberships: out }, null, 2)}\n`);
    else if (out.length === 0) process.stdout.write("not enrolled in any cluster\n");
    else
      for (const m of out)
        process.stdout.write(
          `${m.cluster_id}  ${m.status}  node ${m.node_id ?? "-"} (${m.node_name})  snapshot v${m.snapshot_version ?? "-"}  roles [${m.roles.join(", ")}]  ${m.degraded ? "DEGRADED" : "ok"}${certificateLine(m.certificate)}${m.last_error ? `  last error: ${m.last_error}` : ""}\n`,
        );
    return 0;
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

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = { enroll: cmdEnroll, run: cmdRun, status: cmdStatus, leave: cmdLeave };

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const run = command ? COMMANDS[command] : undefined;
  if (!run) {
    say("usage: rap-node-agent enroll|run|status|leave [options] (see docs/agent.md)");
    return 2;
  }
  try {
    return await run(rest);
  } catch (err) {
    if (err instanceof Usage || (err as { code?: string }).code?.startsWith?.("ERR_PARSE_ARGS")) {
      say((err as Error).message);
      return 2;
    }
    if (err instanceof AgentError) {
      say(`${err.message} (${err.code})`);
      return 1;
    }
    say(`unexpected error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

process.exit(await main(process.argv.slice(2)));
