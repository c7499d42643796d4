/** routableRequest: which URLs are rebuilt, and that a rebuilt request keeps path, query, method, headers and body. */
import { describe, expect, test } from "../fixtures/test.ts";
import { routableRequest } from "./routable-request.ts";

const ORIGIN = "http://10.0.0.5:8080";

/** A Request whose url is what Bun's server gives for a Host-less request (a Request cannot be constructed with a relative URL). */
const withUrl = (url: string, init?: RequestInit) => Object.defineProperty(new Request("http://placeholder/", init), "url", { value: url });

describe("routableRequest", () => {
  test("an absolute URL is left alone (the same object)", () => {
    const req = new Request("http://api.example.com/healthz?x=1");
    expect(routableRequest(req, ORIGIN)).toBe(req);
  });

  test("a bare path gets the server's origin; path and query stay as sent, // included", () => {
    expect(routableRequest(withUrl("/readyz"), ORIGIN).url).toBe(`${ORIGIN}/readyz`);
    expect(routableRequest(withUrl("/api/v1/clusters?limit=5"), ORIGIN).url).toBe(`${ORIGIN}/api/v1/clusters?limit=5`);
    expect(routableRequest(withUrl("//healthz"), ORIGIN).url).toBe(`${ORIGIN}//healthz`);
  });

  test("an unparseable authority is replaced, the path kept", () => {
    expect(routableRequest(withUrl("http://[::1/healthz?a=b"), ORIGIN).url).toBe(`${ORIGIN}/healthz?a=b`);
    expect(routableRequest(withUrl("http://[::1"), ORIGIN).url).toBe(`${ORIGIN}/`);
  });

  test("method, headers and body travel with the rebuilt request", async () => {
    const rebuilt = routableRequest(
      withUrl("/api/v1/auth/login", { method: "POST", headers: { "content-type": "application/json" }, body: '{"a":1}' }),
      ORIGIN,
    );
    expect(rebuilt.method).toBe("POST");
    expect(rebuilt.headers.get("content-type")).toBe("application/json");
    expect(await rebuilt.text()).toBe('{"a":1}');
  });
});
