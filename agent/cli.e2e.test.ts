/**
 * The rap-node-agent command line as an operator meets it, over real
 * processes: help on every command (stdout, exit 0, nothing created), an
 * unknown command, option or malformed value (the line, the usage, exit 2),
 * and start-up failures that are one line with the cause and the fix (exit 1):
 * a control plane that is down or is not one, a state directory that is a
 * file or holds a damaged state.db, a host that is not enrolled.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "../fixtures/test.ts";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, runToExit } from "../fixtures/process.ts";

setDefaultTimeout(30_000);
const ROOT = join(import.meta.dirname, "..");
const COMMANDS = ["enroll", "run", "status", "leave"];

let dir: string;
/** The state directory the agent would use by default ($RAP_AGENT_STATE_DIR); no help or usage error may create it. */
let untouched: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rap-agent-cli-"));
  untouched = join(dir, "default-state");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function agent(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runToExit([process.execPath, join(ROOT, "agent/main.ts"), ...args], { env: { PATH: process.env.PATH ?? "", RAP_AGENT_STATE_DIR: untouched } });
}

/** One line on stderr, `rap-node-agent: … (code)`, exit 1. */
async function failsWithOneLine(args: string[], code: string): Promise<string> {
  const r = await agent(args);
  const lines = r.stderr.trim().split("\n");
  expect({ exit: r.code, lines }).toEqual({ exit: 1, lines: [expect.stringMatching(new RegExp(`^rap-node-agent: .+ \\(${code}\\)$`))] });
  return lines[0]!;
}

describe("help", () => {
  test("--help, -h and help print the overview on stdout, exit 0", async () => {
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const r = await agent(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
      expect(r.stdout).toStartWith("usage: rap-node-agent COMMAND [options]");
      for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c} `);
    }
  });

  test("every command answers --help, -h and help COMMAND with its own usage, wherever the flag is, creating nothing", async () => {
    for (const c of COMMANDS) {
      for (const args of [
        [c, "--help"],
        [c, "-h"],
        ["help", c],
        [c, "--state-dir", join(dir, "x"), "--help"],
      ]) {
        const r = await agent(args);
        expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
        expect(r.stdout).toStartWith(`usage: rap-node-agent ${c}`);
        expect(r.stdout).toContain("--state-dir DIR");
      }
    }
    expect(existsSync(untouched)).toBe(false);
    expect(existsSync(join(dir, "x"))).toBe(false);
  });
});

describe("usage errors: the line, then the usage, exit 2", () => {
  const cases: [string[], string, string][] = [
    [[], "rap-node-agent: a command is needed", "usage: rap-node-agent COMMAND"],
    [["bogus"], "rap-node-agent: unknown command 'bogus'", "usage: rap-node-agent COMMAND"],
    [["--bogus"], "rap-node-agent: unknown option '--bogus'", "usage: rap-node-agent COMMAND"],
    [["help", "bogus"], "rap-node-agent: help: no command bogus", "usage: rap-node-agent COMMAND"],
    [["status", "--bogus"], "rap-node-agent: Unknown option '--bogus'", "usage: rap-node-agent status"],
    [["run", "--port", "9"], "rap-node-agent: Unknown option '--port'", "usage: rap-node-agent run"],
    [["enroll", "--cluster", "c"], "rap-node-agent: enroll needs --control-plane URL --cluster ID --token TOKEN", "usage: rap-node-agent enroll"],
    [
      ["enroll", "--control-plane", "cp.example.com", "--cluster", "c", "--token", "t"],
      "rap-node-agent: --control-plane cp.example.com: not an http(s) URL",
      "usage: rap-node-agent enroll",
    ],
    [
      ["enroll", "--control-plane", "http://127.0.0.1:9", "--cluster", "c", "--token", "t", "--poll-interval", "soon"],
      "rap-node-agent: --poll-interval soon: not a number of seconds",
      "usage: rap-node-agent enroll",
    ],
    [["run", "--heartbeat-interval", "0"], "rap-node-agent: --heartbeat-interval 0: not a number of seconds", "usage: rap-node-agent run"],
    [["run", "--vpn-dns-listen", "localhost:53"], "rap-node-agent: --vpn-dns-listen localhost:53 is not IP:port", "usage: rap-node-agent run"],
    [["run", "--vpn-dns-upstream", "10.0.0.2,dns.example"], "rap-node-agent: --vpn-dns-upstream dns.example is not an IP address", "usage: rap-node-agent run"],
    [
      ["run", "--mesh-max-udp-payload", "9000"],
      "rap-node-agent: --mesh-max-udp-payload 9000 is not a number of bytes from 1200 to 8972",
      "usage: rap-node-agent run",
    ],
    [["leave"], "rap-node-agent: leave needs --cluster ID", "usage: rap-node-agent leave"],
  ];
  for (const [args, first, usage] of cases) {
    test(`rap-node-agent ${args.join(" ") || "(nothing)"}`, async () => {
      const r = await agent(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      const [line, ...rest] = r.stderr.trim().split("\n");
      expect(line).toStartWith(first);
      expect(rest.join("\n")).toStartWith(usage);
      expect(existsSync(untouched)).toBe(false);
    });
  }
});

describe("start-up failures: one line with the cause and the fix, exit 1", () => {
  const enroll = (url: string, stateDir: string) => ["enroll", "--control-plane", url, "--cluster", "c1", "--token", "rap_jt_x", "--state-dir", stateDir];

  test("a control plane that is down is waited out until --timeout, then one line with the fix", async () => {
    const port = await freePort();
    const r = await agent([...enroll(`http://127.0.0.1:${port}`, join(dir, "down")), "--timeout", "2"]);
    const lines = r.stderr.trim().split("\n");
    expect(r.code).toBe(1);
    expect(lines.filter((l) => l.includes("retrying with backoff"))).toHaveLength(1);
    expect(lines.at(-1)).toStartWith(`rap-node-agent: gave up after 2 s: control plane http://127.0.0.1:${port} unreachable`);
    expect(lines.at(-1)).toMatch(/\(timeout\)$/);
  });

  test("an address where something else answers", async () => {
    const server: Server = createServer((s) =>
      s.end("HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found"),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const line = await failsWithOneLine(enroll(url, join(dir, "other")), "http_404");
      expect(line).toContain("the answer is not the control plane's (no error envelope); fix: check that --control-plane points at it");
    } finally {
      server.close();
    }
  });

  test("a state directory that is a file", async () => {
    const file = join(dir, "a-file");
    await writeFile(file, "");
    for (const args of [["status", "--state-dir", file], ["run", "--state-dir", file], enroll("http://127.0.0.1:9", file)]) {
      const line = await failsWithOneLine(args, "state_dir_unusable");
      expect(line).toBe(
        `rap-node-agent: state directory ${file} is not a directory (EEXIST); fix: pass --state-dir (or set RAP_AGENT_STATE_DIR to) a directory this user can create or owns (state_dir_unusable)`,
      );
    }
  });

  test("a damaged state.db", async () => {
    const state = join(dir, "damaged");
    await mkdir(state);
    await writeFile(join(state, "state.db"), "this is not a database, but it is long enough to have a header ".repeat(100));
    const line = await failsWithOneLine(["status", "--state-dir", state], "state_dir_unusable");
    expect(line).toContain(`cannot open ${join(state, "state.db")}: `);
    expect(line).toContain("fix: check --state-dir; if the file is damaged, move it away and enrol this host again");
  });

  test("run on a host that is not enrolled, and a workloads file that is missing", async () => {
    const empty = join(dir, "empty");
    expect(await failsWithOneLine(["run", "--state-dir", empty], "not_enrolled")).toBe(
      "rap-node-agent: this host is not enrolled in any cluster; run `rap-node-agent enroll` first (not_enrolled)",
    );
    const missing = join(dir, "no-workloads.json");
    expect(await failsWithOneLine(["run", "--state-dir", empty, "--workloads", missing], "workloads_unreadable")).toBe(
      `rap-node-agent: cannot read workloads file ${missing}; fix: pass --workloads (or RAP_AGENT_WORKLOADS_FILE) a readable JSON file (docs/agent.md#workloads) (workloads_unreadable)`,
    );
  });
});
