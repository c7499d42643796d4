/**
 * The browser's client of /api/v1: the same API and authorization as every
 * other client. It adds the bearer token, renews an expired access token
 * once with the refresh token, and answers `auth.step_up_required` by asking
 * for an authenticator code (lib/step-up.ts) and retrying. Errors keep the
 * envelope's stable code so pages can show it.
 */
import { clearTokens, loadTokens, saveTokens, type Tokens } from "./session.ts";

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

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

type StepUp = () => Promise<boolean>;
let stepUpPrompt: StepUp = async () => false;
let onSignedOut: () => void = () => {};

/** Installs the prompt that proves the second factor when an action needs step-up. */
export function setStepUpPrompt(fn: StepUp): void {
  stepUpPrompt = fn;
}

export function setSignedOutHandler(fn: () => void): void {
  onSignedOut = fn;
}

let refreshing: Promise<boolean> | null = null;

/** Renews the access token with the refresh token; one renewal at a time (a refresh token works once). */
function renew(): Promise<boolean> {
  refreshing ??= (async () => {
    const t = loadTokens();
    if (!t) return false;
    const res = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: t.refresh_token }),
    });
    if (!res.ok) {
      clearTokens();
      return false;
    }
    saveTokens((await res.json()) as Tokens);
    return true;
  })().finally(() => (refreshing = null));
  return refreshing;
}

async function send(method: string, path: string, body: unknown, retried: { renew?: boolean; stepUp?: boolean } = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  const t = loadTokens();
  if (t) headers.authorization = `Bearer ${t.access_token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.ok) return res;
  const err = await toError(res);
  if (res.status === 401 && err.code === "auth.token_expired" && !retried.renew && (await renew()))
    return send(method, path, body, { ...retried, renew: true });
  if (res.status === 401 && t && path !== "/auth/login") {
    clearTokens();
    onSignedOut();
  }
  if (err.code === "auth.step_up_required" && !retried.stepUp && (await stepUpPrompt())) return send(method, path, body, { ...retried, stepUp: true });
  throw err;
}

async function toError(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as { error?: { code: string; fallback_message: string; details?: Record<string, unknown> } } | null;
  return new ApiError(res.status, body?.error?.code ?? "http.error", body?.error?.fallback_message ?? res.statusText, body?.error?.details ?? {});
}

async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

// Pages read the JSON they asked for; its shape is the server's contract (docs/api.md), not re-declared here.
/* biome-ignore-start lint/suspicious/noExplicitAny: see above */
export const api = {
  get: async <T = any>(path: string, query: Record<string, string | undefined> = {}) => parse<T>(await send("GET", path + qs(query), undefined)),
  post: async <T = any>(path: string, body?: unknown) => parse<T>(await send("POST", path, body)),
  put: async <T = any>(path: string, body?: unknown) => parse<T>(await send("PUT", path, body)),
  patch: async <T = any>(path: string, body?: unknown) => parse<T>(await send("PATCH", path, body)),
  del: async <T = any>(path: string) => parse<T>(await send("DELETE", path, undefined)),
};
/* biome-ignore-end lint/suspicious/noExplicitAny: see above */

export function qs(query: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
}

export const signedIn = () => loadTokens() !== null;
