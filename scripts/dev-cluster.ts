/**
 * `scripts/start --agents [N] [--approve]`: a live cluster in one supervised
 * process group. Starts the control plane (embedded by default), a dev owner
 * made with the explicit insecure bootstrap, a cluster `dev` and N local
 * rap-node-agents that enrol, get mesh roles (entry-node, and relay-node on
 * the last agent when there are two or more) on free loopback QUIC ports, and
 * run. Every child's output is shown with a prefix (`[control]`,
 * `[agent-2]`); an agent that dies is restarted with backoff; Ctrl-C, SIGTERM
 * or any failure stops everything this script started.
 *
 * DATA_DIR (default .data/dev-cluster/, apart from the plain control plane's
 * .data/ so the README's first try and this script never share an owner)
 * keeps everything a second run reuses:
 * `dev-owner.json` (mode 0600: the dev owner's password, TOTP secret, last
 * spent TOTP step and refresh token, so a restart signs in without a code,
 * and waits for the next 30-second step only when a code is needed and the
 * current one is spent), the cluster, and `agents/agent-<i>/` (each agent's
 * state: enrolled agents just run again, no new approval).
 */
import { DEV_CLUSTER_DATA_DIR } from "../agent/dev-cluster-dir.ts";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { createSocket } from "node:dgram";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type ChildProcess, runtimeName, runtimeVersion, scriptArgv, sleep, spawn } from "../core/runtime/index.ts";
import { agentPermissions, controlPlanePermissions } from "../core/runtime/deno-permissions.ts";
import { totpAt, totpStep } from "../core/crypto/totp.ts";
import { b64url, randomBytes } from "../core/crypto/bytes.ts";

const ROOT = join(import.meta.dirname, "..");
const AGENT_MAIN = join(ROOT, "agent/main.ts");
/** An agent command on this script's runtime; on Deno with the agent's own permissions, not `--allow-all`. */
const agentArgv = (args: string[], stateDir: string) => scriptArgv(AGENT_MAIN, args, agentPermissions(stateDir));

// `--agents` may come without a number: then it means the default.
const argv = process.argv.slice(2).flatMap((a, i, all) => (a === "--agents" && (i === all.length - 1 || all[i + 1]!.startsWith("--")) ? [a, "3"] : [a]));
const { values } = parseArgs({ args: argv, options: { agents: { type: "string" }, approve: { type: "boolean" } }, strict: true });
const count = Math.max(1, Math.min(20, Number(values.agents ?? "3") || 3));
const dataDir = resolve(process.env.DATA_DIR ?? DEV_CLUSTER_DATA_DIR);
/** A path as the operator typed it from the repository: relative inside it, absolute outside. */
const shown = (p: string) => (relative(process.cwd(), p).startsWith("..") ? p : relative(process.cwd(), p) || ".");
const shownDataDir = shown(dataDir);
const ownerFile = join(dataDir, "dev-owner.json");
const say = (line: string): void => void process.stdout.write(`[dev-cluster] ${line}\n`);

/** A failure this script explains in one line: it stops everything and exits 1. */
class Fatal extends Error {}

interface DevOwner {
  email: string;
  password: string;
  totpSecret: string | null;
  /** The last TOTP step this script spent: the server takes each step once. */
  lastStep?: number;
  /** Signs a restart in without a code (rotated on every use). */
  refreshToken?: string;
}

// ---------------------------------------------------------------- supervision

const children = new Set<ChildProcess>();
let stopping = false;

/** Child output, one prefixed line at a time; JSON log lines shortened to `msg key=value…`. */
function pump(name: string, stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  void (async () => {
    const decoder = new TextDecoder();
    let rest = "";
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      let nl = rest.indexOf("\n");
      while (nl >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        if (line.trim()) {
          process.stdout.write(`[${name}] ${readable(line)}\n`);
          onLine(line);
        }
        nl = rest.indexOf("\n");
      }
    }
    if (rest.trim()) process.stdout.write(`[${name}] ${readable(rest)}\n`);
  })().catch(() => {});
}

function readable(line: string): string {
  if (!line.startsWith("{")) return line;
  try {
    const { time: _t, level, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
    const kv = Object.entries(fields).map(([k, v]) => `${k}=${(typeof v === "string" ? v : JSON.stringify(v)).slice(0, 160)}`);
    return [level && level !== "info" ? String(level).toUpperCase() : "", String(msg ?? ""), ...kv].filter(Boolean).join(" ");
  } catch {
    return line;
  }
}

function spawnChild(name: string, cmd: string[], env: Record<string, string>, onLine: (line: string) => void = () => {}) {
  const proc = spawn(cmd, { cwd: ROOT, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  pump(name, proc.stdout!, onLine);
  pump(name, proc.stderr!, onLine);
  return proc;
}

/** SIGTERM to everything started, agents first; SIGKILL what is still there after 10 s. */
async function stopAll(code: number, why?: string): Promise<never> {
  if (stopping) return new Promise(() => {});
  stopping = true;
  if (why) say(why);
  const all = [...children];
  const cp = controlPlane;
  for (const p of all) if (p !== cp) p.kill("SIGTERM");
  const settle = (ps: ChildProcess[]) =>
    Promise.race([
      Promise.all(ps.map((p) => p.exited)),
      sleep(10_000).then(() => {
        for (const p of ps) if (p.exitCode === null) p.kill("SIGKILL");
      }),
    ]);
  await settle(all.filter((p) => p !== cp));
  if (cp && cp.exitCode === null) {
    cp.kill("SIGTERM");
    await settle([cp]);
  }
  await Promise.all(all.map((p) => p.exited));
  say(`stopped ${all.length} process(es)`);
  process.exit(code);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void stopAll(0, `${signal}: stopping everything`));
process.on("unhandledRejection", (err) => void stopAll(1, `error: ${oneLine(err)}`));
process.on("uncaughtException", (err) => void stopAll(1, `error: ${oneLine(err)}`));

const oneLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split("\n")[0]!;

/** One agent: enrolls when it has no membership in the dev cluster, then runs; restarted with backoff when it dies. */
class AgentSlot {
  readonly name: string;
  readonly stateDir: string;
  proc: ChildProcess | null = null;
  nodeId: string | null = null;
  private backoffMs = 1000;

  constructor(
    readonly index: number,
    private readonly meshPort: number,
  ) {
    this.name = `agent-${index}`;
    this.stateDir = join(dataDir, "agents", this.name);
  }

  start(args: string[], onLine?: (line: string) => void) {
    const env: Record<string, string> = { PATH: process.env.PATH ?? "", ...(process.env.HOME ? { HOME: process.env.HOME } : {}) };
    this.proc = spawnChild(this.name, agentArgv([...args, "--state-dir", this.stateDir], this.stateDir), env, onLine);
    say(`${this.name} ${args[0]} started (pid ${this.proc.pid})`);
    return this.proc;
  }

  /** `run` with its mesh on a fixed loopback port; restarted on exit until everything stops. */
  run() {
    const started = Date.now();
    const port = `127.0.0.1:${this.meshPort}`;
    // Entry nodes take clients on any free loopback port; the agent publishes the one it got.
    const entry = ["--entry-listen", "127.0.0.1:0", "--entry-public-host", "127.0.0.1"];
    const proc = this.start(["run", "--heartbeat-interval", "10", "--mesh-listen", port, "--mesh-advertise", port, ...entry]);
    void proc.exited.then(async (code) => {
      if (stopping) return;
      // A run that lasted a minute was healthy: start the backoff over.
      if (Date.now() - started > 60_000) this.backoffMs = 1000;
      say(`${this.name} exited (code ${code}); restarting in ${this.backoffMs / 1000} s`);
      await sleep(this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
      if (!stopping) this.run();
    });
  }
}

// ---------------------------------------------------------------- control plane and API

let controlPlane: ChildProcess | null = null;

async function startControlPlane(): Promise<string> {
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => typeof e[1] === "string")),
    DATA_DIR: dataDir,
    INSTALLATION_INSECURE_BOOTSTRAP_ENABLED: "true",
    PORT: process.env.PORT ?? "8080",
    HOST: process.env.HOST ?? "127.0.0.1",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
  };
  let url: string | undefined;
  const proc = spawnChild("control", scriptArgv(join(ROOT, "http/main.ts"), [], controlPlanePermissions(dataDir)), env, (line) => {
    url ??= /serving (http:\/\/\S+)/.exec(line)?.[1];
  });
  controlPlane = proc;
  void proc.exited.then((code) => {
    if (!stopping) void stopAll(1, `the control plane exited (code ${code}); see its lines above`);
  });
  const deadline = Date.now() + 120_000;
  while (!url) {
    if (Date.now() > deadline) throw new Fatal("the control plane did not start within 120 s; see its lines above");
    await sleep(50);
  }
  return url;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function client(base: string) {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(call.token ? { authorization: `Bearer ${call.token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      const code = (() => {
        try {
          return (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? "";
        } catch {
          return "";
        }
      })();
      throw new ApiError(res.status, code, `${method} ${path}: ${res.status} ${code || text.slice(0, 200)}`);
    }
    return text ? JSON.parse(text) : null;
  };
  call.token = "";
  return call;
}

/** The dev owner's session: a refresh token when there is one, else password + a fresh TOTP code; step-up when an action asks. */
class OwnerSession {
  constructor(
    private owner: DevOwner,
    private readonly api: ReturnType<typeof client>,
  ) {}

  private async save() {
    await writeFile(ownerFile, `${JSON.stringify(this.owner, null, 2)}\n`, { mode: 0o600 });
    await chmod(ownerFile, 0o600);
  }

  /** A code of a step not spent yet: waits for the next 30-second step only when this one is spent. */
  private async code(): Promise<string> {
    const spent = this.owner.lastStep ?? 0;
    if (totpStep(new Date()) <= spent) say("waiting for the next TOTP step (each 30-second code works once)");
    while (totpStep(new Date()) <= spent) await sleep(250);
    const step = totpStep(new Date());
    this.owner = { ...this.owner, lastStep: step };
    await this.save();
    return totpAt(this.owner.totpSecret!, step);
  }

  private async tokens(t: { access_token: string; refresh_token: string }) {
    this.api.token = t.access_token;
    this.owner = { ...this.owner, refreshToken: t.refresh_token };
    await this.save();
  }

  async signIn(): Promise<void> {
    if (this.owner.refreshToken) {
      const ok = await this.api("POST", "/api/v1/auth/refresh", { refresh_token: this.owner.refreshToken }).catch(() => null);
      if (ok) return this.tokens(ok);
    }
    const login = await this.api("POST", "/api/v1/auth/login", {
      email: this.owner.email,
      password: this.owner.password,
      device_id: "dev-cluster-script-0001",
      ...(this.owner.totpSecret ? { totp_code: await this.code() } : {}),
    }).catch((err) => {
      if (err instanceof ApiError && err.code === "auth.invalid_credentials")
        throw new Fatal(
          `${ownerFile} does not match the owner in ${shownDataDir} (password changed?): fix the file, or start over on a fresh directory (DATA_DIR=${shownDataDir}-2 scripts/start --agents ${count})`,
        );
      throw err;
    });
    await this.tokens(login);
    if (!login.mfa_verified) {
      // First run (or a run stopped between the two calls): enrol TOTP; confirming it counts as a step-up.
      const { secret } = await this.api("POST", "/api/v1/auth/mfa/totp");
      this.owner = { ...this.owner, totpSecret: secret, lastStep: 0 };
      await this.save();
      await this.api("POST", "/api/v1/auth/mfa/totp/confirm", { code: await this.code() });
    }
  }

  /** An API call as the owner: signs in again on 401, steps up on `auth.step_up_required`. */
  async call(method: string, path: string, body?: unknown): Promise<any> {
    try {
      return await this.api(method, path, body);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401) await this.signIn();
      else if (err.code === "auth.step_up_required") await this.api("POST", "/api/v1/auth/step-up", { code: await this.code() });
      else throw err;
      return this.api(method, path, body);
    }
  }
}

/** A free UDP port on loopback, for an agent's QUIC endpoint. */
function freeUdpPort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createSocket("udp4");
    s.once("error", fail);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

async function agentStatus(stateDir: string): Promise<{ cluster_id: string; status: string; node_id: string | null }[]> {
  const p = spawn(agentArgv(["status", "--json", "--state-dir", stateDir], stateDir), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Fatal(`rap-node-agent status --state-dir ${stateDir} failed: ${err.trim().split("\n")[0]}`);
  return (JSON.parse(out.trim() || "{}").memberships ?? []) as { cluster_id: string; status: string; node_id: string | null }[];
}

/** The mesh roles each agent gets: entry-node, and relay-node on the last agent of two or more. */
const rolesFor = (i: number) => (count > 1 && i === count ? ["relay-node"] : ["entry-node"]);

// ---------------------------------------------------------------- main

async function main() {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  say(`runtime: ${runtimeName} ${runtimeVersion}`);
  const stored = await readFile(ownerFile, "utf8").then(
    (t) => JSON.parse(t) as DevOwner,
    () => null,
  );
  const url = await startControlPlane();
  const api = client(url);
  let owner: DevOwner = stored ?? { email: "owner@example.com", password: b64url(randomBytes(18)), totpSecret: null };
  if (!(await api("GET", "/api/v1/installation")).activated) {
    await api("POST", "/api/v1/installation/bootstrap-owner", { email: owner.email, password: owner.password, display_name: "Dev Owner" });
    owner = { email: owner.email, password: owner.password, totpSecret: null };
    await writeFile(ownerFile, `${JSON.stringify(owner, null, 2)}\n`, { mode: 0o600 });
    await chmod(ownerFile, 0o600);
    say(`dev owner created: ${owner.email}, password and TOTP secret in ${shown(ownerFile)}`);
  } else if (!stored) {
    throw new Fatal(
      `${shownDataDir} has an owner this script did not make (no ${shown(ownerFile)}): run the dev cluster on its own directory (DATA_DIR=${shownDataDir}-dev scripts/start --agents ${count} --approve), or move ${shownDataDir} away to start over`,
    );
  } else {
    say(`reusing ${shownDataDir}: dev owner ${owner.email}`);
  }
  const session = new OwnerSession(owner, api);
  await session.signIn();

  const clusters = await session.call("GET", "/api/v1/clusters?limit=200");
  let cluster = clusters.items.find((c: { slug: string }) => c.slug === "dev");
  if (cluster) say(`reusing cluster dev (${cluster.id})`);
  else cluster = await session.call("POST", "/api/v1/clusters", { name: "Dev", slug: "dev" });

  const slots: AgentSlot[] = [];
  for (let i = 1; i <= count; i++) slots.push(new AgentSlot(i, await freeUdpPort()));

  let token: Promise<{ token: string; authority_fingerprint: string }> | undefined;
  const joinToken = () => (token ??= session.call("POST", `/api/v1/clusters/${cluster.id}/join-tokens`, { max_uses: count, ttl_seconds: 24 * 3600 }));
  let approving = Promise.resolve();
  const waiting = new Set<string>();

  /** Approves a join request once (a request approved by an earlier, interrupted run is left as it is). */
  const approve = (slot: AgentSlot, requestId: string) => {
    approving = approving.then(async () => {
      const r = await session.call("GET", `/api/v1/clusters/${cluster.id}/join-requests/${requestId}`);
      if (r.status !== "pending") return say(`${slot.name}: join request ${requestId} is already ${r.status}`);
      await session.call("POST", `/api/v1/clusters/${cluster.id}/join-requests/${requestId}/approve`, {}).then(
        () => say(`${slot.name}: approved as the dev owner`),
        (err) => {
          // Approved meanwhile (an earlier run, or the console): the agent picks its identity up either way.
          if (err instanceof ApiError && err.status === 409) say(`${slot.name}: join request ${requestId} was approved already (${err.code})`);
          else throw err;
        },
      );
    });
    return approving;
  };

  /** The node's mesh roles, assigned once: a second run finds them there. */
  const ensureRoles = async (slot: AgentSlot) => {
    const n = await session.call("GET", `/api/v1/clusters/${cluster.id}/nodes/${slot.nodeId}`);
    const have = new Set((n.roles as { role: string }[]).map((r) => r.role));
    for (const role of rolesFor(slot.index)) {
      if (have.has(role)) continue;
      await session.call("POST", `/api/v1/clusters/${cluster.id}/nodes/${slot.nodeId}/roles`, { role });
      say(`${slot.name}: role ${role} assigned`);
    }
  };

  const enrolled = async (slot: AgentSlot) => {
    slot.nodeId = (await agentStatus(slot.stateDir)).find((m) => m.cluster_id === cluster.id && m.status === "enrolled")?.node_id ?? null;
    if (!slot.nodeId) throw new Fatal(`${slot.name} finished enrolling but its state has no node in cluster ${cluster.id}`);
    await ensureRoles(slot);
    slot.run();
  };

  /** Enrols (or resumes a pending enrolment); restarted with backoff when it fails. */
  const enroll = async (slot: AgentSlot, backoffMs = 1000): Promise<void> => {
    const t = await joinToken();
    const proc = slot.start(
      [
        "enroll",
        "--control-plane",
        url,
        "--cluster",
        cluster.id,
        "--token",
        t.token,
        "--authority-fingerprint",
        t.authority_fingerprint,
        "--name",
        `dev-${slot.name}`,
        "--poll-interval",
        values.approve ? "2" : "10",
      ],
      (line) => {
        const id = /join request (\S+) (?:sent|is waiting)/.exec(line)?.[1];
        if (!id) return;
        if (values.approve) void approve(slot, id).catch((err) => void stopAll(1, `error: ${oneLine(err)}`));
        else if (!waiting.has(id)) {
          waiting.add(id);
          say(
            `${slot.name} waits for approval: open ${url}/console/#/join-requests as ${owner.email} (password in ${shown(ownerFile)}), or run again with --approve`,
          );
        }
      },
    );
    const code = await proc.exited;
    if (stopping) return;
    if (code === 0) return enrolled(slot);
    say(`${slot.name} enroll exited (code ${code}); trying again in ${backoffMs / 1000} s`);
    await sleep(backoffMs);
    if (!stopping) return enroll(slot, Math.min(backoffMs * 2, 30_000));
  };

  const ready: Promise<void>[] = [];
  for (const slot of slots) {
    const memberships = await agentStatus(slot.stateDir);
    const mine = memberships.find((m) => m.cluster_id === cluster.id);
    if (mine?.status === "enrolled") {
      say(`${slot.name}: reusing node ${mine.node_id} (no approval needed)`);
      slot.nodeId = mine.node_id;
      ready.push(ensureRoles(slot).then(() => slot.run()));
    } else {
      ready.push(enroll(slot));
    }
  }
  await Promise.all(ready);
  if (stopping) return;
  const agentCommand =
    runtimeName === "bun" ? "node_modules/.bin/bun agent/main.ts" : "node_modules/@deno/linux-x64-glibc/deno run --config deno.json -A agent/main.ts";
  const cmd = (dir: string) => `${agentCommand} status${dir}`;
  const envPrefix = process.env.DATA_DIR ? `DATA_DIR=${shownDataDir} ` : "";
  say(`ready: cluster dev (${cluster.id}), ${count} agent(s) running, control plane ${url}`);
  say(`  console: ${url}/console/  (sign in as ${owner.email}; password and TOTP secret in ${shown(ownerFile)})`);
  say(`  status:  ${envPrefix}${cmd("")}   (every dev agent; one: ${cmd(` --state-dir ${shown(slots[0]!.stateDir)}`)})`);
  say("  Ctrl-C stops everything");
}

await main().catch((err) => stopAll(1, err instanceof Fatal ? err.message : `error: ${oneLine(err)}`));
