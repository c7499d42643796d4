/**
 * The runtime's own answers, over a real socket to the runtime's server as
 * http/server.ts configures it. What reaches the app gets its JSON envelope:
 * an oversized body (declared or chunked, however large), a body on a route
 * that takes none (a GET's included), an error thrown outside the app, and a
 * body cut off midway is logged as the client's 400, not our 500. What Bun
 * answers before any of our code runs cannot be wrapped; docs/api.md lists
 * it, and the last tests pin that list so a Bun upgrade that changes it
 * shows up here.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { connect } from "node:net";
import { runtimeName, sleep } from "../core/runtime/index.ts";
import { useStores } from "../fixtures/stores.ts";
import { makeApp, type TestApp } from "../fixtures/control-plane.ts";
import { serve } from "./server.ts";
import type { RunningServer as HttpServer } from "../core/runtime/index.ts";

setDefaultTimeout(60_000);
const stores = useStores();

let t: TestApp;
let server: HttpServer;

beforeAll(async () => {
  t = await makeApp(stores.store.db, stores.live, { bodyLimitBytes: 4096 });
  server = serve(t.app, { hostname: "127.0.0.1", port: 0, log: t.logs.log });
});

afterAll(() => server?.stop({ force: true }));

/**
 * After answering 413 before the body was read, Bun closes the connection;
 * Deno's server (hyper) keeps it and reads the rest of the body away instead
 * (docs/api.md). Pinned per runtime, so an upgrade that changes it shows up.
 */
const CLOSES_AFTER_EARLY_ANSWER = runtimeName === "bun";

interface RawAnswer {
  status: number | null;
  headers: Record<string, string>;
  body: string;
  closed: boolean;
}

/** Writes `parts` to a new connection (a pause between them) and reads until the server closes it or `waitMs` passes. */
function raw(parts: string[], opts: { port?: number; waitMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(opts.port ?? server.port!, "127.0.0.1");
    let text = "";
    let closed = false;
    const finish = () => {
      socket.destroy();
      const [head = "", ...rest] = text.split("\r\n\r\n");
      const [statusLine = "", ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]) || null, headers, body: rest.join("\r\n\r\n"), closed });
    };
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("close", () => {
      closed = true;
      finish();
    });
    socket.on("error", () => {});
    const timer = setTimeout(finish, opts.waitMs ?? 3000);
    socket.on("close", () => clearTimeout(timer));
    void (async () => {
      for (const p of parts) {
        if (socket.destroyed) return;
        socket.write(p);
        await sleep(50);
      }
    })();
  });
}

function expectEnvelope(a: RawAnswer, status: number, code: string) {
  expect(a.status).toBe(status);
  const body = JSON.parse(a.body) as { error: { code: string; trace_id: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.trace_id).toBe(a.headers["x-trace-id"]!);
}

const post = (path: string, headers: string) => `POST ${path} HTTP/1.1\r\nHost: cp.test\r\nContent-Type: application/json\r\n${headers}\r\n`;

describe("the runtime's 4xx answers carry the envelope where our code can see the request", () => {
  test("an oversized body, however large its declared length, gets 413 and the connection is closed", async () => {
    // 5 MiB was over Bun's own cap (answered without the envelope); 10 GB must not wait for the body.
    for (const length of [5000, 5 * 1024 * 1024, 10_000_000_000]) {
      const a = await raw([post("/api/v1/clusters", `Content-Length: ${length}\r\n`), "x".repeat(2000)]);
      expectEnvelope(a, 413, "request.body_too_large");
      expect(a.headers.connection).toBe("close");
      expect(a.closed).toBe(CLOSES_AFTER_EARLY_ANSWER);
    }
  });

  test("an oversized chunked body gets 413 too", async () => {
    const a = await raw([
      post("/api/v1/clusters", "Transfer-Encoding: chunked\r\n"),
      `1000\r\n${"x".repeat(4096)}\r\n`,
      `10\r\n${"x".repeat(16)}\r\n0\r\n\r\n`,
    ]);
    expectEnvelope(a, 413, "request.body_too_large");
    expect(a.closed).toBe(CLOSES_AFTER_EARLY_ANSWER);
  });

  test("a body on a route that takes none gets 400 request.body_not_allowed, a GET's included", async () => {
    expectEnvelope(await raw([`${post("/api/v1/auth/logout", "Content-Length: 2\r\nConnection: close\r\n")}{}`]), 400, "request.body_not_allowed");
    expectEnvelope(
      await raw(["GET /api/v1/installation HTTP/1.1\r\nHost: cp.test\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"]),
      400,
      "request.body_not_allowed",
    );
    expect((await raw(["GET /api/v1/installation HTTP/1.1\r\nHost: cp.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"])).status).toBe(200);
  });

  test("a body cut off midway is logged as the client's 400, not as our 500", async () => {
    const from = t.logs.lines.length;
    await raw([post("/api/v1/clusters", "Transfer-Encoding: chunked\r\n"), '2\r\n{"\r\n', "zz\r\nnot a chunk\r\n"]);
    await raw([`${post("/api/v1/clusters", "Content-Length: 100\r\n")}{"a":`], { waitMs: 300 });
    // The second connection is closed by the client; give the app a moment to notice.
    const lines = await (async () => {
      for (let i = 0; i < 50; i++) {
        const l = t.logs.lines.slice(from).filter((x) => x.msg === "request");
        if (l.length >= 2) return l;
        await sleep(20);
      }
      return t.logs.lines.slice(from).filter((x) => x.msg === "request");
    })();
    expect(lines.map((l) => l["http.status"])).toEqual([400, 400]);
    expect(t.logs.lines.slice(from).filter((x) => x.level === "error")).toEqual([]);
  });

  test("an error thrown outside the app gets the 500 envelope without its message", async () => {
    const broken = serve(
      {
        fetch: () => {
          throw new Error("secret detail");
        },
      },
      { hostname: "127.0.0.1", port: 0, log: t.logs.log },
    );
    try {
      const a = await raw(["GET /anything HTTP/1.1\r\nHost: cp.test\r\nConnection: close\r\n\r\n"], { port: broken.port! });
      expectEnvelope(a, 500, "internal.error");
      expect(a.body).not.toContain("secret detail");
    } finally {
      await broken.stop({ force: true });
    }
  });
});

describe("what the runtime answers before our code runs (cannot be wrapped; listed in docs/api.md)", () => {
  /** Label, request, then Bun's answer and Deno's: a status, null for a closed connection without one, "app" when the request reaches our code. */
  const cases: [string, string, number | null, number | null | "app"][] = [
    ["a malformed request line", "GARBAGE\r\n\r\n", 400, 400],
    ["a header line without a colon", "GET /healthz HTTP/1.1\r\nHost: cp.test\r\nBroken\r\n\r\n", 400, 400],
    ["obsolete header line folding", "GET /healthz HTTP/1.1\r\nHost: cp.test\r\nX-A: a\r\n b\r\n\r\n", 400, 400],
    ["a NUL in a header value", "GET /healthz HTTP/1.1\r\nHost: cp.test\r\nX-A: a\u0000b\r\n\r\n", 400, 400],
    ["HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "app"],
    ["an invalid Content-Length", "POST /api/v1/clusters HTTP/1.1\r\nHost: cp.test\r\nContent-Length: -1\r\n\r\n", 400, 400],
    [
      "Content-Length with Transfer-Encoding",
      "POST /api/v1/clusters HTTP/1.1\r\nHost: cp.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
      400,
    ],
    ["a transfer coding other than chunked", "POST /api/v1/clusters HTTP/1.1\r\nHost: cp.test\r\nTransfer-Encoding: gzip\r\n\r\n", 400, 400],
    ["the asterisk request target", "OPTIONS * HTTP/1.1\r\nHost: cp.test\r\n\r\n", 400, "app"],
    ["headers over 16 KiB", `GET /healthz HTTP/1.1\r\nHost: cp.test\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431, "app"],
    ["a request target over 16 KiB", `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: cp.test\r\n\r\n`, 431, "app"],
    ["an HTTP version other than 1.0 and 1.1", "GET /healthz HTTP/2.0\r\nHost: cp.test\r\n\r\n", 505, 400],
    ["a space in the request target", "GET /a b HTTP/1.1\r\nHost: cp.test\r\n\r\n", 505, 400],
    ["bare LF line endings", "GET /healthz HTTP/1.1\nHost: cp.test\n\n", 505, "app"],
    ["an unknown method (no answer at all)", "BREW /healthz HTTP/1.1\r\nHost: cp.test\r\n\r\n", null, "app"],
  ];

  for (const [label, request, bun, deno] of cases) {
    const answer = runtimeName === "bun" ? bun : deno;
    test(`${label}: ${answer === "app" ? "reaches our code" : (answer ?? "connection closed")}`, async () => {
      const a = await raw([request]);
      if (answer === "app") {
        // Our code answered: its trace id is on the response.
        expect(a.headers["x-trace-id"]).toMatch(/^[0-9a-f]{32}$/);
        return;
      }
      expect(a.status).toBe(answer);
      expect(a.body).toBe("");
      expect(a.closed).toBe(true);
    });
  }

  test("the server goes on serving", async () => {
    expect((await raw(["GET /healthz HTTP/1.1\r\nHost: cp.test\r\nConnection: close\r\n\r\n"])).status).toBe(200);
  });
});
