/**
 * The dependency direction, checked on every import of our own code:
 * core ← sql/live ← actors ← control ← http, core ← agent, and web sees only
 * core/contracts. Tests, fixtures and scripts may import anything. Also:
 * no import circle among non-test modules anywhere, in TypeScript or among
 * the modules of a Rust crate. Drivers and the web
 * framework stay at their edges: only sql/ opens a database, only live/
 * talks to Redis, only agent/store.ts to libsql, only http/ uses Hono.
 */
import { describe, expect, test } from "../fixtures/test.ts";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const SKIP = new Set(["node_modules", "target", ".git", ".data", "docs"]);

/** Which top-level folders (or paths) each layer may import from, besides itself. */
const ALLOWED: Record<string, string[]> = {
  core: [],
  sql: ["core"],
  live: ["core"],
  actors: ["core", "sql", "live"],
  control: ["core", "sql", "live", "actors"],
  http: ["core", "control", "web"],
  agent: ["core", "crates"],
  crates: ["core/contracts"],
  web: ["core/contracts"],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

const isTest = (file: string) => /\.test\.tsx?$/.test(file);
const SPEC = /(?:from\s+|import\s*\(\s*|import\s+)["'](\.{1,2}\/[^"']+)["']/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(SPEC)].map((m) => relative(ROOT, resolve(dirname(file), m[1]!)));
}

/** npm packages only one place may import (tests and fixtures excepted). */
const PACKAGE_HOMES: [RegExp, (file: string) => boolean][] = [
  [/^(postgres|@electric-sql\/pglite)(\/|$)/, (f) => f.startsWith("sql/")],
  [/^ioredis(\/|$)/, (f) => f.startsWith("live/")],
  [/^@libsql\//, (f) => f === "agent/store.ts"],
  [/^hono(\/|$)/, (f) => f.startsWith("http/")],
];
const PACKAGE = /(?:from\s+|import\s*\(\s*|import\s+)["']([^."'][^"']*)["']/g;

const files = sources(ROOT).map((f) => relative(ROOT, f));
const layerOf = (path: string) => path.split("/")[0]!;

describe("layers", () => {
  test("every import of our code runs in the allowed direction", () => {
    const wrong: string[] = [];
    for (const file of files) {
      const layer = layerOf(file);
      const allowed = ALLOWED[layer];
      if (!allowed || isTest(file)) continue; // fixtures, scripts and tests may import anything
      for (const target of importsOf(join(ROOT, file))) {
        const to = layerOf(target);
        if (to === layer || allowed.some((a) => target === a || target.startsWith(`${a}/`))) continue;
        wrong.push(`${file} → ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test("no import circle among non-test modules", () => {
    const graph = new Map(files.filter((f) => !isTest(f)).map((f) => [f, importsOf(join(ROOT, f)).filter((t) => t !== f)]));
    const state = new Map<string, "open" | "done">();
    const circles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "open") {
        circles.push([...path.slice(path.indexOf(f)), f].join(" → "));
        return;
      }
      state.set(f, "open");
      for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
      state.set(f, "done");
    };
    for (const f of graph.keys()) visit(f, []);
    expect(circles).toEqual([]);
  });

  test("no module of a Rust crate uses another in a loop", () => {
    const circles: string[] = [];
    for (const crate of readdirSync(join(ROOT, "crates"))) {
      const src = join(ROOT, "crates", crate, "src");
      let names: string[];
      try {
        names = readdirSync(src).filter((n) => n.endsWith(".rs") && n !== "lib.rs" && n !== "main.rs");
      } catch {
        continue;
      }
      const modules = new Set(names.map((n) => n.replace(/\.rs$/, "")));
      const uses = new Map<string, Set<string>>();
      for (const m of modules) {
        // Test-only code may reach anywhere; the production module graph is what must stay a tree.
        const text = readFileSync(join(src, `${m}.rs`), "utf8").split(/#\[cfg\(test\)\]/)[0]!;
        uses.set(m, new Set([...text.matchAll(/crate::([a-z_0-9]+)/g)].map((x) => x[1]!).filter((t) => modules.has(t) && t !== m)));
      }
      const state = new Map<string, "open" | "done">();
      const visit = (m: string, path: string[]) => {
        if (state.get(m) === "done") return;
        if (state.get(m) === "open") {
          circles.push(`${crate}: ${[...path.slice(path.indexOf(m)), m].join(" → ")}`);
          return;
        }
        state.set(m, "open");
        for (const t of uses.get(m) ?? []) visit(t, [...path, m]);
        state.set(m, "done");
      };
      for (const m of modules) visit(m, []);
    }
    expect(circles).toEqual([]);
  });

  test("drivers and the web framework are imported only at their edges", () => {
    const wrong: string[] = [];
    for (const file of files) {
      if (isTest(file) || file.startsWith("fixtures/") || file.startsWith("scripts/")) continue;
      for (const m of readFileSync(join(ROOT, file), "utf8").matchAll(PACKAGE)) {
        const home = PACKAGE_HOMES.find(([pattern]) => pattern.test(m[1]!));
        if (home && !home[1](file)) wrong.push(`${file} → ${m[1]}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test("the checker sees imports (a guard against a pattern that matches nothing)", () => {
    expect(importsOf(join(ROOT, "http/app.ts"))).toContain("http/env.ts");
    expect([...readFileSync(join(ROOT, "http/app.ts"), "utf8").matchAll(PACKAGE)].map((m) => m[1])).toContain("hono");
    expect(files.length).toBeGreaterThan(100);
  });
});
