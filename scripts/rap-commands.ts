/**
 * The control-plane commands of `rap` (scripts/rap.ts runs them): login and
 * logout, clusters, nodes, join tokens, join requests, node groups and role
 * assignments, each with `--help`, table output or `--json`. Prompts (the
 * password without echo, authenticator codes) only on a terminal; scripts
 * pass flags or RAP_* environment variables. docs/cli.md is the manual.
 */
import { parseArgs } from "node:util";
import { ApiError, Client, credentialsFile, forgetCredentials, loadCredentials, request, saveCredentials, type LoginAnswer } from "./rap-client.ts";

export class UsageError extends Error {}

export const wantsHelp = (argv: readonly string[]) => argv.some((a) => a === "--help" || a === "-h");

type Values = Record<string, string | boolean | undefined>;
interface Ctx {
  values: Values;
  args: string[];
  env: NodeJS.ProcessEnv;
}
interface Command {
  usage: string;
  about: string;
  options?: Record<string, { type: "string" | "boolean"; multiple?: boolean }>;
  /** Positional arguments it takes. */
  args?: number;
  run(ctx: Ctx): Promise<void>;
}

const CLUSTER = { cluster: { type: "string" } } as const;
const JSON_OUT = { json: { type: "boolean" } } as const;
const TOTP = { totp: { type: "string" } } as const;

// ——— prompts ———

const interactive = () => Boolean(process.stdin.isTTY);

async function readLine(prompt: string, echo: boolean): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  if (!echo && stdin.isTTY) stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding("utf8");
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = "";
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            if (!echo) process.stderr.write("\n");
            return resolve(line);
          }
          if (ch === "\u0003") {
            stdin.off("data", onData);
            process.stderr.write("\n");
            return reject(new UsageError("cancelled"));
          }
          if (ch === "\u007f" || ch === "\b") line = line.slice(0, -1);
          else line += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    if (!echo && stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0] ?? "";
}

/** An authenticator code: --totp, then RAP_TOTP, then a prompt on a terminal. */
async function totpCode(ctx: Ctx, why: string): Promise<string | null> {
  const given = (ctx.values.totp as string | undefined) ?? ctx.env.RAP_TOTP;
  if (given) return given;
  if (!interactive()) return null;
  return (await readLine(`${why}\nAuthenticator code: `, true)).trim();
}

// ——— output ———

function print(ctx: Ctx, data: unknown, table: () => string): void {
  console.log(ctx.values.json ? JSON.stringify(data, null, 2) : table());
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (!rows.length) return "(none)";
  const cell = (x: unknown) => (x === null || x === undefined ? "-" : Array.isArray(x) ? x.join(",") || "-" : String(x));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (xs: string[]) =>
    xs
      .map((x, i) => x.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join("\n");
}

const fields = (o: Record<string, unknown>, keys: string[]) =>
  keys.map((k) => `${`${k}:`.padEnd(16)}${o[k] === null || o[k] === undefined ? "-" : typeof o[k] === "object" ? JSON.stringify(o[k]) : o[k]}`).join("\n");

// ——— session ———

async function client(ctx: Ctx): Promise<Client> {
  const creds = await loadCredentials(ctx.env);
  if (!creds) throw new CliError(`not signed in; run \`rap login\` first (${credentialsFile(ctx.env)})`);
  return new Client(creds, ctx.env, () => totpCode(ctx, "This action needs a fresh second factor (step-up)."));
}

class CliError extends Error {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** --cluster (id or slug), then RAP_CLUSTER, then the only cluster there is. */
async function clusterId(c: Client, ctx: Ctx): Promise<string> {
  const wanted = (ctx.values.cluster as string | undefined) ?? ctx.env.RAP_CLUSTER;
  if (wanted && UUID.test(wanted)) return wanted;
  const { items } = (await c.call("listClusters", { query: { limit: "200" } })) as { items: { id: string; slug: string }[] };
  if (wanted) {
    const hit = items.find((x) => x.slug === wanted);
    if (!hit) throw new CliError(`no cluster with slug "${wanted}" (rap clusters list)`);
    return hit.id;
  }
  if (items.length === 1) return items[0]!.id;
  throw new CliError(items.length ? "several clusters: name one with --cluster ID|SLUG or RAP_CLUSTER" : "no cluster yet: rap clusters create NAME SLUG");
}

/** A node by id or name. */
async function nodeId(c: Client, cluster: string, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const { items } = (await c.call("listNodes", { params: { id: cluster }, query: { limit: "200" } })) as { items: { id: string; name: string }[] };
  const hits = items.filter((n) => n.name === ref);
  if (hits.length !== 1) throw new CliError(hits.length ? `several nodes are named "${ref}"; use the id` : `no node named "${ref}" (rap nodes list)`);
  return hits[0]!.id;
}

/** A pending join request by id or node name. */
async function requestId(c: Client, cluster: string, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const { items } = (await c.call("listRequests", { params: { id: cluster }, query: { limit: "200", status: "pending" } })) as {
    items: { id: string; node_name: string }[];
  };
  const hits = items.filter((r) => r.node_name === ref);
  if (hits.length !== 1)
    throw new CliError(hits.length ? `several pending requests from "${ref}"; use the id` : `no pending request from "${ref}" (rap requests list)`);
  return hits[0]!.id;
}

function need(ctx: Ctx, name: string, env?: string): string {
  const value = (ctx.values[name] as string | undefined) ?? (env ? ctx.env[env] : undefined);
  if (!value) throw new UsageError(`--${name} is required${env ? ` (or ${env})` : ""}`);
  return value;
}

// ——— commands ———

const login: Command = {
  usage: "rap login [--url URL] [--email EMAIL] [--password-stdin] [--totp CODE]",
  about: `Sign in to a control plane. Prompts for what is missing (the password without echo) on a terminal;
scripts pass --url/RAP_URL, --email/RAP_EMAIL, the password on stdin (--password-stdin) or in RAP_PASSWORD,
and the authenticator code as --totp/RAP_TOTP. The tokens are kept in $XDG_CONFIG_HOME/rap/credentials.json (0600).`,
  options: { url: { type: "string" }, email: { type: "string" }, "password-stdin": { type: "boolean" }, ...TOTP },
  async run(ctx) {
    const saved = await loadCredentials(ctx.env);
    const ask = async (flag: string, env: string, prompt: string, fallback?: string) => {
      const value = (ctx.values[flag] as string | undefined) ?? ctx.env[env] ?? fallback;
      if (value) return value;
      if (!interactive()) throw new UsageError(`--${flag} is required (or ${env})`);
      return (await readLine(prompt, true)).trim();
    };
    const url = (await ask("url", "RAP_URL", "Control plane URL: ", saved?.url)).replace(/\/$/, "");
    const email = await ask("email", "RAP_EMAIL", "Email: ", saved?.url === url ? saved?.email : undefined);
    let password = ctx.values["password-stdin"] ? await readStdin() : ctx.env.RAP_PASSWORD;
    if (!password) {
      if (!interactive()) throw new UsageError("no password: pipe it with --password-stdin or set RAP_PASSWORD");
      password = await readLine("Password: ", false);
    }
    const deviceId = saved?.device_id ?? `rap-cli-${crypto.randomUUID().replaceAll("-", "")}`;
    const attempt = (totp_code?: string) => request(url, "login", { body: { email, password, device_id: deviceId, totp_code } }) as Promise<LoginAnswer>;
    let answer: LoginAnswer;
    const given = (ctx.values.totp as string | undefined) ?? ctx.env.RAP_TOTP;
    try {
      answer = await attempt(given);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== "auth.mfa_required") throw err;
      const code = await totpCode(ctx, "This account has two-factor authentication.");
      if (!code) throw new CliError("this account needs an authenticator code: pass --totp CODE or RAP_TOTP (auth.mfa_required)");
      answer = await attempt(code);
    }
    await saveCredentials(
      {
        url,
        email,
        device_id: deviceId,
        access_token: answer.access_token,
        refresh_token: answer.refresh_token,
        expires_at: Date.now() + answer.expires_in * 1000,
      },
      ctx.env,
    );
    console.log(`signed in to ${url} as ${email}`);
  },
};

const logout: Command = {
  usage: "rap logout",
  about: "End the session on the control plane and forget the saved tokens.",
  async run(ctx) {
    const creds = await loadCredentials(ctx.env);
    if (!creds) {
      console.log("not signed in");
      return;
    }
    try {
      await (await client(ctx)).call("logout", {});
    } catch (err) {
      // The session may already be gone (expired, revoked): forgetting it locally is what matters.
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
    }
    await forgetCredentials(ctx.env);
    console.log(`signed out of ${creds.url}`);
  },
};

const whoami: Command = {
  usage: "rap whoami [--json]",
  about: "The signed-in user and control plane.",
  options: JSON_OUT,
  async run(ctx) {
    const c = await client(ctx);
    const me = await c.call("me", {});
    print(ctx, me, () => `${me.email} (${me.platform_role ?? "no platform role"}) at ${c.url}`);
  },
};

const clusters: Record<string, Command> = {
  list: {
    usage: "rap clusters list [--json]",
    about: "The clusters of this control plane.",
    options: JSON_OUT,
    async run(ctx) {
      const r = await (await client(ctx)).call("listClusters", { query: { limit: "200" } });
      print(ctx, r, () => table(r.items, ["id", "slug", "name", "status", "region"]));
    },
  },
  create: {
    usage: "rap clusters create NAME SLUG [--region REGION] [--json]",
    about: "Create a cluster.",
    options: { region: { type: "string" }, ...JSON_OUT },
    args: 2,
    async run(ctx) {
      const [name, slug] = ctx.args as [string, string];
      const r = await (await client(ctx)).call("createCluster", { body: { name, slug, region: ctx.values.region as string | undefined } });
      print(ctx, r, () => `created cluster ${r.slug} (${r.id})`);
    },
  },
};

const NODE_COLUMNS = ["id", "name", "status", "health", "group_id"];
const lifecycle = (verb: "drain" | "activate" | "enable", about: string): Command => ({
  usage: `rap nodes ${verb} NODE [--cluster ID|SLUG] [--totp CODE] [--json]`,
  about: `${about} NODE is an id or a name.`,
  options: { ...CLUSTER, ...JSON_OUT, ...TOTP },
  args: 1,
  async run(ctx) {
    const c = await client(ctx);
    const cluster = await clusterId(c, ctx);
    const id = await nodeId(c, cluster, ctx.args[0]!);
    const name = ({ drain: "drainNode", activate: "activateNode", enable: "enableNode" } as const)[verb];
    const r = await c.call(name, { params: { id: cluster, itemId: id } });
    print(ctx, r, () => `${r.name}: ${r.status}`);
  },
});
const withReason = (verb: "disable" | "revoke", about: string): Command => ({
  usage: `rap nodes ${verb} NODE --reason TEXT [--cluster ID|SLUG] [--totp CODE] [--json]`,
  about: `${about} NODE is an id or a name.`,
  options: { reason: { type: "string" }, ...CLUSTER, ...JSON_OUT, ...TOTP },
  args: 1,
  async run(ctx) {
    const reason = need(ctx, "reason");
    const c = await client(ctx);
    const cluster = await clusterId(c, ctx);
    const id = await nodeId(c, cluster, ctx.args[0]!);
    const r = await c.call(verb === "disable" ? "disableNode" : "revokeNode", { params: { id: cluster, itemId: id }, body: { reason } });
    print(ctx, r, () => `${verb === "revoke" ? "revoked" : "disabled"} ${ctx.args[0]} (${id})`);
  },
});

const nodes: Record<string, Command> = {
  list: {
    usage: "rap nodes list [--cluster ID|SLUG] [--status STATUS] [--health HEALTH] [--json]",
    about: "Nodes of a cluster (--cluster, RAP_CLUSTER, or the only cluster).",
    options: { status: { type: "string" }, health: { type: "string" }, ...CLUSTER, ...JSON_OUT },
    async run(ctx) {
      const c = await client(ctx);
      const cluster = await clusterId(c, ctx);
      const query = { limit: "200", status: ctx.values.status as string | undefined, health: ctx.values.health as string | undefined };
      const r = await c.call("listNodes", { params: { id: cluster }, query });
      print(ctx, r, () => table(r.items, NODE_COLUMNS));
    },
  },
  show: {
    usage: "rap nodes show NODE [--cluster ID|SLUG] [--json]",
    about: "A node: status, health, roles, services, last heartbeat. NODE is an id or a name.",
    options: { ...CLUSTER, ...JSON_OUT },
    args: 1,
    async run(ctx) {
      const c = await client(ctx);
      const cluster = await clusterId(c, ctx);
      const r = await c.call("showNode", { params: { id: cluster, itemId: await nodeId(c, cluster, ctx.args[0]!) } });
      print(ctx, r, () =>
        [
          fields(r, ["id", "name", "status", "health", "group_id", "created_at"]),
          "",
          "roles:",
          table(r.roles, ["id", "role", "organization_id", "assigned_at"]),
          "",
          "services:",
          table(r.services, ["service_type", "desired_state", "reported_state", "version"]),
          "",
          `last heartbeat: ${r.last_heartbeat?.received_at ?? "never"}`,
        ].join("\n"),
      );
    },
  },
  drain: lifecycle("drain", "Drain a node: no new sessions land on it."),
  activate: lifecycle("activate", "Activate a pending or draining node."),
  enable: lifecycle("enable", "Enable a disabled node."),
  disable: withReason("disable", "Disable a node (it stays enrolled)."),
  revoke: withReason("revoke", "Revoke a node for good: its certificates are revoked (needs a step-up)."),
};

const tokens: Record<string, Command> = {
  list: {
    usage: "rap tokens list [--cluster ID|SLUG] [--json]",
    about: "Join tokens of a cluster (never their secrets).",
    options: { ...CLUSTER, ...JSON_OUT },
    async run(ctx) {
      const c = await client(ctx);
      const r = await c.call("listTokens", { params: { id: await clusterId(c, ctx) } });
      print(ctx, r, () => table(r.items, ["id", "prefix", "used_count", "max_uses", "expires_at", "revoked_at", "requested_roles"]));
    },
  },
  create: {
    usage: "rap tokens create [--ttl SECONDS] [--uses N] [--role ROLE]... [--cluster ID|SLUG] [--totp CODE] [--json]",
    about: "Create a join token; prints the secret once and the rap-node-agent command that uses it.",
    options: { ttl: { type: "string" }, uses: { type: "string" }, role: { type: "string", multiple: true }, ...CLUSTER, ...JSON_OUT, ...TOTP },
    async run(ctx) {
      const c = await client(ctx);
      const num = (name: string) => {
        const x = ctx.values[name] as string | undefined;
        if (x === undefined) return undefined;
        if (!/^\d+$/.test(x)) throw new UsageError(`--${name} must be a whole number`);
        return Number(x);
      };
      const roles = ctx.values.role as unknown as string[] | undefined;
      const body = { ttl_seconds: num("ttl"), max_uses: num("uses"), requested_roles: roles as never };
      const r = await c.call("createToken", { params: { id: await clusterId(c, ctx) }, body });
      print(ctx, r, () => `token:   ${r.token}\nexpires: ${r.expires_at}\nuses:    ${r.max_uses}\n\non the node:\n  ${r.agent_command}`);
    },
  },
  revoke: {
    usage: "rap tokens revoke TOKEN_ID [--cluster ID|SLUG] [--totp CODE]",
    about: "Revoke a join token.",
    options: { ...CLUSTER, ...TOTP },
    args: 1,
    async run(ctx) {
      const c = await client(ctx);
      await c.call("revokeToken", { params: { id: await clusterId(c, ctx), itemId: ctx.args[0]! } });
      console.log(`revoked ${ctx.args[0]}`);
    },
  },
};

const requests: Record<string, Command> = {
  list: {
    usage: "rap requests list [--status pending|approved|rejected|expired] [--cluster ID|SLUG] [--json]",
    about: "Join requests of a cluster (pending by default; --status all for every one).",
    options: { status: { type: "string" }, ...CLUSTER, ...JSON_OUT },
    async run(ctx) {
      const c = await client(ctx);
      const status = (ctx.values.status as string | undefined) ?? "pending";
      const r = await c.call("listRequests", {
        params: { id: await clusterId(c, ctx) },
        query: { limit: "200", status: status === "all" ? undefined : status },
      });
      print(ctx, r, () => table(r.items, ["id", "node_name", "status", "requested_roles", "source_ip", "created_at"]));
    },
  },
  approve: {
    usage: "rap requests approve REQUEST [--group GROUP_ID] [--cluster ID|SLUG] [--totp CODE] [--json]",
    about: "Approve a join request: the node is created. REQUEST is an id or the node name of a pending request.",
    options: { group: { type: "string" }, ...CLUSTER, ...JSON_OUT, ...TOTP },
    args: 1,
    async run(ctx) {
      const c = await client(ctx);
      const cluster = await clusterId(c, ctx);
      const id = await requestId(c, cluster, ctx.args[0]!);
      const r = await c.call("approveRequest", { params: { id: cluster, itemId: id }, body: { group_id: ctx.values.group as string | undefined } });
      print(ctx, r, () => `approved ${ctx.args[0]}${r.node_id ? `: node ${r.node_id}` : ""}`);
    },
  },
  reject: {
    usage: "rap requests reject REQUEST --reason TEXT [--cluster ID|SLUG] [--totp CODE] [--json]",
    about: "Reject a join request. REQUEST is an id or the node name of a pending request.",
    options: { reason: { type: "string" }, ...CLUSTER, ...JSON_OUT, ...TOTP },
    args: 1,
    async run(ctx) {
      const reason = need(ctx, "reason");
      const c = await client(ctx);
      const cluster = await clusterId(c, ctx);
      const r = await c.call("rejectRequest", { params: { id: cluster, itemId: await requestId(c, cluster, ctx.args[0]!) }, body: { reason } });
      print(ctx, r, () => `rejected ${r.node_name} (${r.id})`);
    },
  },
};

const groups: Record<string, Command> = {
  list: {
    usage: "rap groups list [--cluster ID|SLUG] [--json]",
    about: "The node group tree of a cluster.",
    options: { ...CLUSTER, ...JSON_OUT },
    async run(ctx) {
      const c = await client(ctx);
      const r = await c.call("listGroups", { params: { id: await clusterId(c, ctx) } });
      print(ctx, r, () => table(r.items, ["id", "name", "parent_id"]));
    },
  },
  create: {
    usage: "rap groups create NAME [--parent GROUP_ID] [--cluster ID|SLUG] [--json]",
    about: "Create a node group.",
    options: { parent: { type: "string" }, ...CLUSTER, ...JSON_OUT },
    args: 1,
    async run(ctx) {
      const c = await client(ctx);
      const r = await c.call("createGroup", {
        params: { id: await clusterId(c, ctx) },
        body: { name: ctx.args[0]!, parent_id: ctx.values.parent as string | undefined },
      });
      print(ctx, r, () => `created group ${ctx.args[0]} (${r.id})`);
    },
  },
};

const roles: Record<string, Command> = {
  assign: {
    usage: "rap roles assign NODE ROLE [--org ORG_ID] [--egress-pool POOL] [--cluster ID|SLUG] [--totp CODE] [--json]",
    about: "Assign a role (entry-node, relay-node, rdp-worker, …) to a node. NODE is an id or a name.",
    options: { org: { type: "string" }, "egress-pool": { type: "string" }, ...CLUSTER, ...JSON_OUT, ...TOTP },
    args: 2,
    async run(ctx) {
      const c = await client(ctx);
      const cluster = await clusterId(c, ctx);
      const [node, role] = ctx.args as [string, string];
      const pool = ctx.values["egress-pool"] as string | undefined;
      const body = { role: role as never, organization_id: ctx.values.org as string | undefined, policy: pool ? { egress_pool: pool } : undefined };
      const r = await c.call("assignRole", { params: { id: cluster, itemId: await nodeId(c, cluster, node) }, body });
      print(ctx, r, () => `assigned ${role} to ${node} (assignment ${r.id})`);
    },
  },
  remove: {
    usage: "rap roles remove NODE ASSIGNMENT_ID [--cluster ID|SLUG] [--totp CODE]",
    about: "Remove a role assignment (the ids are in `rap nodes show NODE`).",
    options: { ...CLUSTER, ...TOTP },
    args: 2,
    async run(ctx) {
      const c = await client(ctx);
      const cluster = await clusterId(c, ctx);
      const [node, assignment] = ctx.args as [string, string];
      await c.call("removeRole", { params: { id: cluster, itemId: await nodeId(c, cluster, node), assignmentId: assignment } });
      console.log(`removed ${assignment} from ${node}`);
    },
  },
};

const GROUPS: Record<string, { about: string; commands: Record<string, Command> }> = {
  clusters: { about: "list and create clusters", commands: clusters },
  nodes: { about: "list, show and change the lifecycle of nodes", commands: nodes },
  tokens: { about: "join tokens: list, create, revoke", commands: tokens },
  requests: { about: "join requests: list, approve, reject", commands: requests },
  groups: { about: "node groups: list, create", commands: groups },
  roles: { about: "role assignments: assign, remove", commands: roles },
};
const SINGLE: Record<string, Command> = { login, logout, whoami };

export const HELP = `usage: rap <command> [options]

Sign in:
  rap login                                                   sign in to a control plane (password and authenticator code)
  rap logout                                                  end the session and forget the saved tokens
  rap whoami                                                  who and where you are signed in
Operate (after rap login):
${Object.entries(GROUPS)
  .map(([g, { about, commands }]) => `  rap ${g} ${Object.keys(commands).join("|")}`.padEnd(62) + about)
  .join("\n")}
Offline:
  rap root keygen|sign-activation|sign-grant                  the Product Root (no control plane involved)

Every command takes --help. Lists and details print a table, or JSON with --json.
Commands that need a fresh second factor prompt for it on a terminal, or take --totp CODE (RAP_TOTP).
Environment: RAP_URL, RAP_EMAIL, RAP_PASSWORD, RAP_TOTP, RAP_CLUSTER; tokens in $XDG_CONFIG_HOME/rap/credentials.json.
See docs/cli.md.`;

const commandHelp = (c: Command) => `usage: ${c.usage}\n\n${c.about}`;
const groupHelp = (name: string) =>
  `usage: rap ${name} <command> [options]   (${GROUPS[name]!.about})\n\n${Object.values(GROUPS[name]!.commands)
    .map((c) => `  ${c.usage}`)
    .join("\n")}\n\nrap ${name} <command> --help for more.`;

/** Runs a control-plane command; returns the exit status (0 done, 1 refused or failed, 2 usage). */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [first, second] = argv;
  if (first === undefined) {
    console.error(HELP);
    return 2;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    console.log(HELP);
    return 0;
  }
  let cmd: Command | undefined = SINGLE[first];
  let rest = argv.slice(1);
  if (!cmd) {
    const group = GROUPS[first];
    if (!group) {
      console.error(`rap: unknown command "${first}"\n\n${HELP}`);
      return 2;
    }
    if (second === undefined || second === "--help" || second === "-h") {
      (second === undefined ? console.error : console.log)(groupHelp(first));
      return second === undefined ? 2 : 0;
    }
    cmd = group.commands[second];
    if (!cmd) {
      console.error(`rap: unknown command "${first} ${second}"\n\n${groupHelp(first)}`);
      return 2;
    }
    rest = argv.slice(2);
  }
  if (wantsHelp(rest)) {
    console.log(commandHelp(cmd));
    return 0;
  }
  let values: Values;
  let args: string[];
  try {
    ({ values, positionals: args } = parseArgs({ args: rest, options: cmd.options ?? {}, strict: true, allowPositionals: true }) as {
      values: Values;
      positionals: string[];
    });
    if (args.length !== (cmd.args ?? 0)) throw new UsageError(`expected ${cmd.args ?? 0} argument(s), got ${args.length}`);
  } catch (err) {
    console.error(`rap: ${(err as Error).message}\n\n${commandHelp(cmd)}`);
    return 2;
  }
  try {
    await cmd.run({ values, args, env });
    return 0;
  } catch (err) {
    if (err instanceof ApiError) {
      const hint =
        err.code === "auth.step_up_required"
          ? "; pass --totp CODE (or RAP_TOTP), or run it in a terminal"
          : err.status === 401 && !err.code.startsWith("auth.mfa") && err.code !== "auth.invalid_credentials"
            ? "; run `rap login` again"
            : "";
      console.error(`rap: ${err.message} (${err.code})${hint}`);
      return 1;
    }
    if (err instanceof UsageError) {
      console.error(`rap: ${err.message}\n\n${commandHelp(cmd)}`);
      return 2;
    }
    if (err instanceof CliError) {
      console.error(`rap: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
