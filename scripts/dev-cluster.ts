/**
 * `scripts/start --agents [N] [--approve]`: a live cluster in one command.
 * Starts the control plane (embedded by default), makes a dev owner with the
 * explicit insecure bootstrap (credentials and TOTP seed saved to
 * DATA_DIR/dev-owner.json, mode 0600), a cluster `dev`, and N local
 * rap-node-agents that enrol and run. With --approve the dev owner approves
 * them; otherwise the script prints the command that does. Ctrl-C stops all.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { spawnControlPlane } from "../fixtures/process.ts";
import { spawnAgent, type AgentProcess } from "../fixtures/agent-process.ts";
import { totpAt, totpStep } from "../core/crypto/totp.ts";
import { b64url, randomBytes } from "../core/crypto/bytes.ts";

// `--agents` may come without a number: then it means the default.
const argv = process.argv.slice(2).flatMap((a, i, all) => (a === "--agents" && (i === all.length - 1 || all[i + 1]!.startsWith("--")) ? [a, "3"] : [a]));
const { values } = parseArgs({ args: argv, options: { agents: { type: "string" }, approve: { type: "boolean" } }, strict: true });
const count = Math.max(1, Math.min(20, Number(values.agents ?? "3") || 3));
const dataDir = process.env.DATA_DIR ?? ".data";
const say = (line: string) => process.stderr.write(`[dev-cluster] ${line}\n`);

interface DevOwner {
  email: string;
  password: string;
  totpSecret: string | null;
}

async function main() {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const cp = await spawnControlPlane({
    ...pick(process.env),
    DATA_DIR: dataDir,
    INSTALLATION_INSECURE_BOOTSTRAP_ENABLED: "true",
    PORT: process.env.PORT ?? "8080",
    HOST: process.env.HOST ?? "127.0.0.1",
  });
  process.stderr.write(cp.output());
  const api = client(cp.url);
  const ownerFile = join(dataDir, "dev-owner.json");
  let owner: DevOwner = await readFile(ownerFile, "utf8").then(
    (t) => JSON.parse(t) as DevOwner,
    () => ({ email: "owner@example.com", password: b64url(randomBytes(18)), totpSecret: null }),
  );
  const save = async () => {
    await writeFile(ownerFile, `${JSON.stringify(owner, null, 2)}\n`, { mode: 0o600 });
    await chmod(ownerFile, 0o600);
  };
  if (!(await api("GET", "/api/v1/installation")).activated) {
    await api("POST", "/api/v1/installation/bootstrap-owner", { email: owner.email, password: owner.password, display_name: "Dev Owner" });
    await save();
    say(`dev owner created: ${owner.email}, password in ${ownerFile}`);
  }
  let lastStep = 0;
  const code = async () => {
    // One code per 30-second step: wait for the next step when this one is spent.
    while (totpStep(new Date()) <= lastStep) await Bun.sleep(500);
    lastStep = totpStep(new Date());
    return totpAt(owner.totpSecret!, lastStep);
  };
  const login = await api("POST", "/api/v1/auth/login", {
    email: owner.email,
    password: owner.password,
    device_id: "dev-cluster-script-0001",
    ...(owner.totpSecret ? { totp_code: await code() } : {}),
  });
  api.token = login.access_token;
  if (!owner.totpSecret) {
    const { secret } = await api("POST", "/api/v1/auth/mfa/totp");
    owner = { ...owner, totpSecret: secret };
    await api("POST", "/api/v1/auth/mfa/totp/confirm", { code: await code() });
    await save();
  }
  const clusters = await api("GET", "/api/v1/clusters?limit=200");
  const cluster = clusters.items.find((c: { slug: string }) => c.slug === "dev") ?? (await api("POST", "/api/v1/clusters", { name: "Dev", slug: "dev" }));

  const agents: AgentProcess[] = [];
  const pendingRequests: string[] = [];
  let token: { token: string; authority_fingerprint: string } | undefined;
  for (let i = 1; i <= count; i++) {
    const stateDir = join(dataDir, "agents", `agent-${i}`);
    const status = await runJson(["status", "--json", "--state-dir", stateDir]);
    if (!status.memberships.some((m: { status: string }) => m.status === "enrolled")) {
      token ??= await api("POST", `/api/v1/clusters/${cluster.id}/join-tokens`, { max_uses: count, ttl_seconds: 24 * 3600 });
      const enroll = spawnAgent([
        "enroll",
        "--control-plane",
        cp.url,
        "--cluster",
        cluster.id,
        "--token",
        token!.token,
        "--authority-fingerprint",
        token!.authority_fingerprint,
        "--name",
        `dev-agent-${i}`,
        "--poll-interval",
        "1",
        "--state-dir",
        stateDir,
      ]);
      await enroll.waitFor(/join request (\S+) (sent|is waiting)/, 30_000);
      pendingRequests.push(/join request (\S+)/.exec(enroll.output())![1]!);
      agents.push(enroll);
    } else {
      agents.push(spawnAgent(["run", "--heartbeat-interval", "10", "--state-dir", stateDir]));
    }
  }
  if (pendingRequests.length && values.approve) {
    await api("POST", "/api/v1/auth/step-up", { code: await code() }).catch(() => {});
    for (const id of pendingRequests) await api("POST", `/api/v1/clusters/${cluster.id}/join-requests/${id}/approve`, {});
    say(`approved ${pendingRequests.length} agent(s) as the dev owner`);
  } else if (pendingRequests.length) {
    say(`${pendingRequests.length} agent(s) wait for approval. Sign in as ${owner.email} (password in ${ownerFile}), step up, then for each request:`);
    for (const id of pendingRequests)
      say(
        `  curl -X POST -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{}' ${cp.url}/api/v1/clusters/${cluster.id}/join-requests/${id}/approve`,
      );
    say("or run `scripts/start --agents N --approve` to let the dev owner approve them");
  }
  // Agents that finished enrolling start running.
  for (let i = 0; i < agents.length; i++) {
    const a = agents[i]!;
    void a.exited.then((code) => {
      if (code === 0 && a.output().includes("enrolled in cluster"))
        agents[i] = spawnAgent(["run", "--heartbeat-interval", "10", "--state-dir", join(dataDir, "agents", `agent-${i + 1}`)]);
    });
  }
  say(`cluster dev (${cluster.id}) with ${count} local agent(s); control plane at ${cp.url}; Ctrl-C stops everything`);
  const stop = async () => {
    for (const a of agents) a.proc.kill("SIGTERM");
    await Promise.all(agents.map((a) => a.exited));
    await cp.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
  await new Promise(() => {});
}

function pick(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === "string" && !/^(PORT|HOST|DATA_DIR)$/.test(e[0])));
}

function client(base: string) {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(call.token ? { authorization: `Bearer ${call.token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  call.token = "";
  return call;
}

async function runJson(args: string[]) {
  const a = spawnAgent(args);
  await a.exited;
  return JSON.parse(a.output().trim() || "{}");
}

await main();
