/**
 * The control-plane client of the `rap` operator CLI: one table of the calls
 * it makes (method, route, and the request schemas of core/contracts, so a
 * changed contract breaks this compile), the saved credentials
 * ($XDG_CONFIG_HOME/rap/credentials.json, mode 0600 in a 0700 directory),
 * refresh on an expired access token, and errors as the API's code.
 */
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type * as v from "valibot";
import type { CodeBody, LoginBody, RefreshBody } from "../core/contracts/auth.ts";
import type { ListClustersQuery, NewClusterBody } from "../core/contracts/clusters.ts";
import type { ApproveBody, JoinRequestQuery, NewJoinTokenBody, NodeGroupBody, NodeQuery, ReasonBody, RoleAssignmentBody } from "../core/contracts/nodes.ts";

type Schema = v.GenericSchema;
interface Call {
  method: "GET" | "POST" | "PUT" | "DELETE";
  route: string;
  body?: Schema;
  query?: Schema;
  /** A public call: no access token, no refresh. */
  anonymous?: boolean;
}
/** A schema as a type only: the CLI sends what the contract's input type allows; the server validates. */
const s = <S extends Schema>() => undefined as unknown as S;

/** Every call the CLI makes. `body`/`query` are types only: the server validates, the CLI is typed by the same contracts. */
export const CALLS = {
  login: { method: "POST", route: "/api/v1/auth/login", body: s<typeof LoginBody>(), anonymous: true },
  refresh: { method: "POST", route: "/api/v1/auth/refresh", body: s<typeof RefreshBody>(), anonymous: true },
  logout: { method: "POST", route: "/api/v1/auth/logout" },
  stepUp: { method: "POST", route: "/api/v1/auth/step-up", body: s<typeof CodeBody>() },
  me: { method: "GET", route: "/api/v1/me" },
  listClusters: { method: "GET", route: "/api/v1/clusters", query: s<typeof ListClustersQuery>() },
  createCluster: { method: "POST", route: "/api/v1/clusters", body: s<typeof NewClusterBody>() },
  listNodes: { method: "GET", route: "/api/v1/clusters/:id/nodes", query: s<typeof NodeQuery>() },
  showNode: { method: "GET", route: "/api/v1/clusters/:id/nodes/:itemId" },
  drainNode: { method: "POST", route: "/api/v1/clusters/:id/nodes/:itemId/drain" },
  activateNode: { method: "POST", route: "/api/v1/clusters/:id/nodes/:itemId/activate" },
  enableNode: { method: "POST", route: "/api/v1/clusters/:id/nodes/:itemId/enable" },
  disableNode: { method: "POST", route: "/api/v1/clusters/:id/nodes/:itemId/disable", body: s<typeof ReasonBody>() },
  revokeNode: { method: "POST", route: "/api/v1/clusters/:id/nodes/:itemId/revoke", body: s<typeof ReasonBody>() },
  assignRole: { method: "POST", route: "/api/v1/clusters/:id/nodes/:itemId/roles", body: s<typeof RoleAssignmentBody>() },
  removeRole: { method: "DELETE", route: "/api/v1/clusters/:id/nodes/:itemId/roles/:assignmentId" },
  listTokens: { method: "GET", route: "/api/v1/clusters/:id/join-tokens" },
  createToken: { method: "POST", route: "/api/v1/clusters/:id/join-tokens", body: s<typeof NewJoinTokenBody>() },
  revokeToken: { method: "DELETE", route: "/api/v1/clusters/:id/join-tokens/:itemId" },
  listRequests: { method: "GET", route: "/api/v1/clusters/:id/join-requests", query: s<typeof JoinRequestQuery>() },
  approveRequest: { method: "POST", route: "/api/v1/clusters/:id/join-requests/:itemId/approve", body: s<typeof ApproveBody>() },
  rejectRequest: { method: "POST", route: "/api/v1/clusters/:id/join-requests/:itemId/reject", body: s<typeof ReasonBody>() },
  listGroups: { method: "GET", route: "/api/v1/clusters/:id/node-groups" },
  createGroup: { method: "POST", route: "/api/v1/clusters/:id/node-groups", body: s<typeof NodeGroupBody>() },
} as const satisfies Record<string, Call>;

type Calls = typeof CALLS;
export type CallName = keyof Calls;
type Params<K extends CallName> = Calls[K]["route"] extends `${string}:itemId/${string}:assignmentId`
  ? { id: string; itemId: string; assignmentId: string }
  : Calls[K]["route"] extends `${string}:itemId${string}`
    ? { id: string; itemId: string }
    : Calls[K]["route"] extends `${string}:id${string}`
      ? { id: string }
      : undefined;
/** What a call takes: path parameters, the query and body as the contracts' input types. */
export type CallInput<K extends CallName> = (Params<K> extends undefined ? { params?: undefined } : { params: Params<K> }) &
  (Calls[K] extends { body: infer S extends Schema } ? { body: v.InferInput<S> } : { body?: undefined }) &
  (Calls[K] extends { query: infer S extends Schema } ? { query?: Partial<Record<keyof v.InferInput<S>, string>> } : { query?: undefined });

/** An error answer of the API: its stable code, status and English message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface Credentials {
  url: string;
  email: string;
  device_id: string;
  access_token: string;
  refresh_token: string;
  /** Milliseconds since the epoch. */
  expires_at: number;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config"), "rap");
}
export const credentialsFile = (env: NodeJS.ProcessEnv = process.env) => join(configDir(env), "credentials.json");

export async function loadCredentials(env: NodeJS.ProcessEnv = process.env): Promise<Credentials | null> {
  const text = await readFile(credentialsFile(env), "utf8").catch(() => null);
  if (text === null) return null;
  try {
    return JSON.parse(text) as Credentials;
  } catch {
    return null;
  }
}

/** Written owner-only: the directory 0700, the file 0600 (also when it existed with looser modes). */
export async function saveCredentials(c: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const file = credentialsFile(env);
  await writeFile(file, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

export async function forgetCredentials(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const had = (await loadCredentials(env)) !== null;
  await rm(credentialsFile(env), { force: true });
  return had;
}

function pathOf(route: string, params: Record<string, string> | undefined): string {
  return route.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
}

/** One request, no retries: the answer's JSON, or an ApiError with the envelope's code. */
export async function request(base: string, k: CallName, input: { params?: object; query?: object; body?: unknown }, token?: string): Promise<unknown> {
  const call: Call = CALLS[k];
  const qs = new URLSearchParams(Object.entries(input.query ?? {}).filter(([, x]) => x !== undefined) as [string, string][]).toString();
  const url = `${base.replace(/\/$/, "")}${pathOf(call.route, input.params as Record<string, string>)}${qs ? `?${qs}` : ""}`;
  const headers: Record<string, string> = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (input.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(url, { method: call.method, headers, body: input.body === undefined ? undefined : JSON.stringify(input.body) });
  } catch (err) {
    throw new ApiError(0, "network.unreachable", `cannot reach ${base}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {}
  if (res.ok) return parsed;
  const e = (parsed as { error?: { code?: string; fallback_message?: string; details?: Record<string, unknown> } } | null)?.error;
  throw new ApiError(res.status, e?.code ?? `http.${res.status}`, e?.fallback_message ?? (text.slice(0, 200) || res.statusText), e?.details);
}

/** Answers a step-up: a fresh authenticator code, or null when there is none to give. */
export type CodeSource = () => Promise<string | null>;

/**
 * A signed-in client: refreshes the access token when it has expired (by
 * the clock or by the server's `auth.token_expired`) and saves the new pair;
 * on `auth.step_up_required` asks `stepUpCode` for a code, steps up and
 * retries once.
 */
export class Client {
  constructor(
    private creds: Credentials,
    private readonly env: NodeJS.ProcessEnv,
    private readonly stepUpCode: CodeSource,
  ) {}

  get url(): string {
    return this.creds.url;
  }

  private async refresh(): Promise<void> {
    const r = (await request(this.creds.url, "refresh", { body: { refresh_token: this.creds.refresh_token } })) as LoginAnswer;
    this.creds = { ...this.creds, access_token: r.access_token, refresh_token: r.refresh_token, expires_at: Date.now() + r.expires_in * 1000 };
    await saveCredentials(this.creds, this.env);
  }

  async call<K extends CallName>(k: K, input: CallInput<K>): Promise<any> {
    if (Date.now() >= this.creds.expires_at - 5000) await this.refresh();
    try {
      return await this.once(k, input);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== "auth.step_up_required") throw err;
      const code = await this.stepUpCode();
      if (!code) throw err;
      await this.once("stepUp", { body: { code } });
      return this.once(k, input);
    }
  }

  private async once(k: CallName, input: { params?: object; query?: object; body?: unknown }): Promise<any> {
    try {
      return await request(this.creds.url, k, input, this.creds.access_token);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== "auth.token_expired") throw err;
      await this.refresh();
      return request(this.creds.url, k, input, this.creds.access_token);
    }
  }
}

export interface LoginAnswer {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}
