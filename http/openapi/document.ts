/**
 * The OpenAPI 3.1 document of the control plane's API, built from the app's
 * own route table: every `/api/v1` route that is mounted, with the schemas
 * its validators check (valibot → JSON Schema by @valibot/to-json-schema,
 * the input side: what a client sends), its authentication scheme, and the
 * summary, success status and domain error codes of its `doc()`. Error
 * answers are grouped by status from core/error-catalog.ts; each lists its
 * codes (`x-error-codes`, and an enum on the envelope's `code`).
 */
import { toJsonSchema, type JsonSchema } from "@valibot/to-json-schema";
import type { GenericSchema } from "valibot";
import { ERROR_CATALOG, type ErrorCode } from "../../core/error-catalog.ts";
import { markOf, type RouteDoc, type Scheme, type Target } from "./registry.ts";

export interface RouteEntry {
  method: string;
  path: string;
  handler: object;
}

export const OPENAPI_PATH = "/api/v1/openapi.json";

const VALIDATION: readonly ErrorCode[] = ["request.validation_failed", "request.unknown_field"];
const BODY: readonly ErrorCode[] = ["request.invalid_json", "request.unsupported_media_type", "request.body_too_large", "request.body_incomplete"];
const NO_BODY: readonly ErrorCode[] = ["request.body_not_allowed", "request.body_too_large"];
const USER_AUTH: readonly ErrorCode[] = ["auth.unauthenticated", "auth.token_invalid", "auth.token_expired", "auth.session_revoked"];
const NODE_AUTH: readonly ErrorCode[] = ["node.auth_refused"];

/** What the generator knows of one route once its marks are read. */
export interface RouteFacts {
  method: string;
  path: string;
  doc?: RouteDoc;
  scheme?: Scheme;
  schemas: Partial<Record<Target, GenericSchema>>;
}

/** The API routes of a route table with their marks; an `ALL` middleware (`use`) counts for the routes registered after it under its prefix. */
export function routeFacts(routes: readonly RouteEntry[]): RouteFacts[] {
  const byRoute = new Map<string, RouteFacts>();
  const guards: { prefix: string; scheme: Scheme }[] = [];
  for (const r of routes) {
    const m = markOf(r.handler);
    if (r.method === "ALL") {
      if (m?.kind === "auth") guards.push({ prefix: r.path.replace(/\*$/, ""), scheme: m.scheme });
      continue;
    }
    if (!r.path.startsWith("/api/v1/")) continue;
    const path = r.path.replace(/\/$/, "");
    const key = `${r.method} ${path}`;
    let f = byRoute.get(key);
    if (!f) {
      const guard = guards.findLast((g) => `${path}/`.startsWith(g.prefix));
      f = { method: r.method, path, schemas: {}, scheme: guard?.scheme };
      byRoute.set(key, f);
    }
    if (m?.kind === "doc") f.doc = m.doc;
    else if (m?.kind === "auth") f.scheme = m.scheme;
    else if (m?.kind === "validator") f.schemas[m.target] = m.schema;
  }
  return [...byRoute.values()];
}

/** Every error code a route can answer: from its validators, authentication, body rules and its doc. */
export function errorCodesOf(f: RouteFacts): ErrorCode[] {
  const codes = new Set<ErrorCode>(f.doc?.errors ?? []);
  if (f.schemas.json || f.schemas.query || f.schemas.param) for (const c of VALIDATION) codes.add(c);
  for (const c of f.schemas.json ? BODY : f.method === "GET" ? [] : NO_BODY) codes.add(c);
  for (const c of f.scheme === "user" ? USER_AUTH : f.scheme === "node" ? NODE_AUTH : []) codes.add(c);
  return [...codes].sort();
}

const json = (schema: GenericSchema): JsonSchema => {
  const { $schema: _, ...rest } = toJsonSchema(schema, {
    target: "draft-2020-12",
    typeMode: "input",
    // Checks, normalization and transforms have no JSON Schema form: the document shows the shape, the server still runs them.
    errorMode: "ignore",
    // The one custom schema of the contracts is a bounded JSON object (JsonObject in core/contracts/common.ts).
    overrideSchema: ({ valibotSchema }) => (valibotSchema.type === "custom" ? { type: "object" } : undefined),
  });
  return rest;
};

type Obj = Record<string, unknown>;

function parameters(f: RouteFacts): Obj[] {
  const out: Obj[] = [];
  const pathSchema = f.schemas.param ? json(f.schemas.param) : undefined;
  for (const [, name] of f.path.matchAll(/:([A-Za-z]+)/g)) {
    out.push({ name, in: "path", required: true, schema: (pathSchema?.properties?.[name!] as Obj | undefined) ?? { type: "string" } });
  }
  if (f.schemas.query) {
    const q = json(f.schemas.query);
    for (const [name, schema] of Object.entries(q.properties ?? {})) {
      out.push({ name, in: "query", required: q.required?.includes(name) ?? false, schema });
    }
  }
  return out;
}

function responses(f: RouteFacts): Obj {
  const d = f.doc;
  const status = String(d?.status ?? 200);
  const out: Obj = {};
  if (status === "204") out[status] = { description: d?.summary ?? "Done" };
  else
    out[status] = {
      description: d?.summary ?? "OK",
      content: { [d?.contentType ?? "application/json"]: { schema: d?.answer ? json(d.answer) : {} } },
    };
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorCodesOf(f)) {
    const s = ERROR_CATALOG[code].status;
    byStatus.set(s, [...(byStatus.get(s) ?? []), code]);
  }
  for (const [s, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    // 5xx answers always say internal.error (http/errors.ts).
    const shown = s >= 500 ? ["internal.error"] : codes;
    out[String(s)] = {
      description: shown.join(", "),
      "x-error-codes": shown,
      content: {
        "application/json": {
          schema: {
            allOf: [
              { $ref: "#/components/schemas/ErrorEnvelope" },
              { type: "object", properties: { error: { type: "object", properties: { code: { enum: shown } } } } },
            ],
          },
        },
      },
    };
  }
  return out;
}

const operationId = (f: RouteFacts) =>
  `${f.method.toLowerCase()}${f.path
    .slice("/api/v1".length)
    .split(/[/-]/)
    .filter(Boolean)
    .map((s) => (s.startsWith(":") ? `By${s[1]!.toUpperCase()}${s.slice(2)}` : s[0]!.toUpperCase() + s.slice(1)))
    .join("")}`;

export function buildDocument(routes: readonly RouteEntry[]): Obj {
  const paths: Record<string, Obj> = {};
  for (const f of routeFacts(routes)) {
    const path = f.path.replace(/:([A-Za-z]+)/g, "{$1}");
    const op: Obj = {
      operationId: operationId(f),
      summary: f.doc?.summary ?? `${f.method} ${f.path}`,
      tags: [f.path.split("/")[3]!],
      security: f.scheme === "user" ? [{ accessToken: [] }] : f.scheme === "node" ? [{ nodeToken: [] }] : [],
      parameters: parameters(f),
      responses: responses(f),
    };
    if (f.schemas.json) op.requestBody = { required: true, content: { "application/json": { schema: json(f.schemas.json) } } };
    paths[path] = { ...paths[path], [f.method.toLowerCase()]: op };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Secure Access Fabric control plane",
      version: "v1",
      description: "Generated from the routes' own valibot schemas. Errors use one envelope; its codes are listed per answer (x-error-codes).",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    servers: [{ url: "/" }],
    paths,
    components: {
      securitySchemes: {
        accessToken: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "An access token from POST /api/v1/auth/login or /auth/refresh." },
        nodeToken: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "A node token from POST /api/v1/node-agents/session." },
      },
      schemas: {
        ErrorEnvelope: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message_key", "fallback_message", "details", "trace_id"],
              properties: {
                code: { type: "string" },
                message_key: { type: "string" },
                fallback_message: { type: "string" },
                details: { type: "object" },
                trace_id: { type: "string" },
              },
            },
          },
        },
      },
    },
  };
}
