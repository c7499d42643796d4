/**
 * The OpenAPI document (GET /api/v1/openapi.json, built by http/openapi/)
 * against the app it describes: every route of the app's route table is in
 * it and nothing else; it is a valid OpenAPI 3.1 document; every documented
 * error code is in core/error-catalog.ts under the status it is documented
 * with; and each route, sent the valid request of fixtures/route-requests.ts
 * (the requests the hostile-input test starts from), answers its documented
 * success status, or a documented error code of that route.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { Validator } from "@seriousme/openapi-schema-validator";
import { useStores } from "../fixtures/stores.ts";
import { apiRoutes } from "../fixtures/routes.ts";
import { routeWorld, TEMPLATES, validRequest, type RouteWorld } from "../fixtures/route-requests.ts";
import { ERROR_CATALOG, isErrorCode } from "../core/error-catalog.ts";

setDefaultTimeout(120_000);
const stores = useStores();

type Operation = { responses: Record<string, { "x-error-codes"?: string[] }>; security: unknown[] };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

/**
 * Routes whose valid request the world cannot make succeed, and the documented
 * refusal they get instead (the request is well-formed; the object is a
 * decoy, spent, or of a kind this world has none of). Every other route must
 * answer its success status.
 */
const REFUSED: Record<string, string> = {
  // Single sign-on needs a real provider or directory (http/identity-sources/*.test.ts); here the templates reach its refusals.
  "DELETE /api/v1/platform/identity-sources/:sourceId": "identity_source.not_found",
  "GET /api/v1/auth/sso/oidc/callback": "auth.sso_state_invalid",
  "POST /api/v1/auth/sso/ldap/login": "identity_source.wrong_kind",
  "POST /api/v1/auth/sso/oidc/start": "identity_source.wrong_kind",
  "POST /api/v1/auth/sso/redeem": "auth.sso_grant_invalid",
  "POST /api/v1/organizations/:orgId/identity-sources/:sourceId/sync": "identity_source.wrong_kind",
  "POST /api/v1/platform/identity-sources": "identity_source.platform_exists",
  "POST /api/v1/platform/identity-sources/:sourceId/sync": "identity_source.wrong_kind",
  "DELETE /api/v1/auth/devices/:id": "auth.device_not_found",
  "DELETE /api/v1/auth/sessions/:id": "auth.session_not_found",
  "DELETE /api/v1/clusters/:id/join-tokens/:itemId": "join_token.not_found",
  "DELETE /api/v1/clusters/:id/nodes/:itemId/roles/:assignmentId": "node.role_not_found",
  "DELETE /api/v1/clusters/:id/route-intents/:itemId": "route_intent.not_found",
  "DELETE /api/v1/organizations/:orgId/members/:userId": "member.not_found",
  "DELETE /api/v1/platform/role-grants/:id": "installation.grant_not_found",
  "DELETE /api/v1/resources/:id": "resource.not_found",
  "GET /api/v1/node-agents/sessions/:sessionId/credentials": "adapter.session_not_assigned",
  // The route world's node holds no VPN lease.
  "GET /api/v1/node-agents/vpn/:connectionId/secret": "vpn.not_owner",
  "POST /api/v1/auth/login": "auth.invalid_credentials",
  "POST /api/v1/auth/mfa/totp": "auth.mfa_already_enabled",
  "POST /api/v1/auth/mfa/totp/confirm": "auth.mfa_already_enabled",
  "POST /api/v1/auth/refresh": "auth.refresh_token_invalid",
  "POST /api/v1/auth/step-up": "auth.mfa_invalid",
  "POST /api/v1/clusters/:id/join-requests/:itemId/reject": "actor.event_rejected",
  "POST /api/v1/clusters/:id/nodes/:itemId/enable": "actor.event_rejected",
  "POST /api/v1/clusters/:id/partition/merge": "actor.event_rejected",
  "POST /api/v1/clusters/:id/partition/split": "cluster.not_partitioned",
  "POST /api/v1/clusters/:id/route-intents": "node.not_found",
  "POST /api/v1/installation/bootstrap-owner": "installation.already_activated",
  "POST /api/v1/node-agents/certificate": "enrollment.csr_invalid",
  "POST /api/v1/node-agents/data-plane-tokens/redeem": "data_plane.token_invalid",
  "POST /api/v1/node-agents/enrollments/:requestId/bootstrap": "enrollment.not_found",
  "POST /api/v1/node-agents/session": "node.auth_refused",
  "POST /api/v1/node-agents/sessions/:sessionId/events": "adapter.session_not_assigned",
  "POST /api/v1/platform/role-grants": "installation.strict_mode_requires_grant",
  "POST /api/v1/remote-sessions": "remote_session.no_adapter_node",
  "POST /api/v1/remote-sessions/:id/attach": "actor.event_rejected",
  "POST /api/v1/remote-sessions/:id/detach": "remote_session.not_attached",
  "POST /api/v1/remote-sessions/:id/takeover": "actor.event_rejected",
  "POST /api/v1/remote-sessions/:id/terminate": "actor.event_rejected",
  // Version storage in a world without a Product Root or releases (http/versions/*.test.ts publish and roll out for real).
  "GET /api/v1/versions/releases/:version": "versions.release_not_found",
  "GET /api/v1/versions/repository/metadata/:file": "versions.file_not_found",
  "GET /api/v1/versions/repository/targets/:path{.+}": "versions.file_not_found",
  "POST /api/v1/versions/clusters/:id/rollouts": "versions.release_not_found",
  "POST /api/v1/versions/clusters/:id/rollouts/:itemId/halt": "versions.rollout_not_found",
  "POST /api/v1/versions/clusters/:id/rollouts/:itemId/pause": "versions.rollout_not_found",
  "POST /api/v1/versions/clusters/:id/rollouts/:itemId/resume": "versions.rollout_not_found",
  "POST /api/v1/versions/generations": "versions.no_product_root",
  "POST /api/v1/versions/releases/:version/blocklist": "versions.release_not_found",
  "PUT /api/v1/versions/blobs/:digest": "versions.blob_hash_mismatch",
  "PUT /api/v1/versions/clusters/:id/channels/:channel": "versions.release_not_found",
};

let w: RouteWorld;
let doc: Doc;

const operations = (d: Doc) =>
  Object.entries(d.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path.replace(/\{([A-Za-z]+)\}/g, ":$1")}`, op })),
  );

beforeAll(async () => {
  w = await routeWorld(stores);
  const res = await w.t.call("GET", "/api/v1/openapi.json");
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
});

describe("OpenAPI document", () => {
  test("lists exactly the app's API routes", () => {
    const documented = operations(doc)
      .map((o) => o.route)
      .sort();
    expect(documented).toEqual(apiRoutes(w.t.app));
  });

  test("is a valid OpenAPI 3.1 document", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const result = await new Validator().validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  test("is public, the same on every call and cached", async () => {
    const a = await w.t.call("GET", "/api/v1/openapi.json");
    const b = await w.t.call("GET", "/api/v1/openapi.json");
    expect(a.headers.get("content-type")).toStartWith("application/json");
    expect(await a.text()).toBe(await b.text());
  });

  test("every documented error code is in the catalog with the status it is documented under", () => {
    const wrong: string[] = [];
    for (const { route, op } of operations(doc)) {
      for (const [status, r] of Object.entries(op.responses)) {
        for (const code of r["x-error-codes"] ?? []) {
          if (!isErrorCode(code)) wrong.push(`${route} ${status}: ${code} is not in the catalog`);
          else if (String(ERROR_CATALOG[code].status) !== status) wrong.push(`${route} ${status}: ${code} is ${ERROR_CATALOG[code].status}`);
        }
        if (Number(status) >= 400 && !r["x-error-codes"]?.length) wrong.push(`${route} ${status}: no codes`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test("every route answers a valid request with its documented success status", async () => {
    const byRoute = new Map(operations(doc).map((o) => [o.route, o.op]));
    const wrong: string[] = [];
    const refused: Record<string, string> = {};
    for (const [route, make] of Object.entries(TEMPLATES)) {
      const op = byRoute.get(route)!;
      const success = Object.keys(op.responses).filter((s) => Number(s) < 400);
      expect(success.length).toBe(1);
      const tpl = make(w.ids);
      const req = validRequest(route, tpl);
      const res = await w.t.call(req.method, req.url, { token: w.tokenFor(tpl), body: req.body });
      const text = await res.text();
      if (String(res.status) === success[0]) continue;
      const code = res.status >= 400 ? (JSON.parse(text) as { error: { code: string } }).error.code : undefined;
      if (code) refused[route] = code;
      const documented = op.responses[String(res.status)]?.["x-error-codes"] ?? [];
      if (!code || !documented.includes(code)) wrong.push(`${route}: documented ${success[0]}, answered ${res.status} ${text.slice(0, 160)}`);
    }
    expect(wrong).toEqual([]);
    expect(refused).toEqual(REFUSED);
  });
});
