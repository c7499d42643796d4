/**
 * GET /api/v1/openapi.json: the document of document.ts, built on the first
 * request from the app's route table and kept in memory. Public: it holds
 * the shape of the API, nothing of anyone's data.
 */
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { buildDocument, OPENAPI_PATH, type RouteEntry } from "./document.ts";
import { describeRoutes } from "./registry.ts";

export function openApiRoutes(table: () => readonly RouteEntry[]) {
  let text: string | undefined;
  const router = new Hono<AppEnv>().get(OPENAPI_PATH, (c) => {
    text ??= JSON.stringify(buildDocument(table()));
    return c.body(text, 200, { "content-type": "application/json; charset=utf-8", "cache-control": "public, max-age=300" });
  });
  describeRoutes(router, { [`GET ${OPENAPI_PATH}`]: { summary: "This OpenAPI 3.1 document" } });
  return router;
}
