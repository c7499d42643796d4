/**
 * Only core/runtime/ knows which runtime runs the code: no other source file,
 * tests included, mentions the Bun or Deno globals, `import.meta.dir`
 * (Bun-only; `import.meta.dirname` works on both) or imports Bun's own "bun"
 * module; and only fixtures/test.ts imports "bun:test" (test files import
 * the test API from it, so they run on both runtimes). A hit names the file and line; the fix is the seam's export
 * (core/runtime/README.md) or a portable node: API.
 */
import { describe, expect, test } from "../fixtures/test.ts";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const FOLDERS = ["core", "control", "http", "agent", "actors", "sql", "live", "fixtures", "scripts", "web", "crates"];
const SKIP = new Set(["node_modules", "target", ".git", ".data", "docs"]);
const SEAM = "core/runtime/";

/** Runtime-specific spellings, each with what to use instead. */
const FORBIDDEN: [RegExp, string][] = [
  [/\bBun\.[A-Za-z_$]/, "the Bun global: use core/runtime"],
  [/\bDeno\.[A-Za-z_$]/, "the Deno global: use core/runtime"],
  [/import\.meta\.dir\b/, "import.meta.dir: use import.meta.dirname"],
  [/(?:from\s+|import\s*\(\s*|import\s+)["']bun["']/, 'the "bun" module: use core/runtime types'],
  [/(?:from\s+|import\s*\(\s*|import\s+)["']bun:test["']/, '"bun:test": import the test API from fixtures/test.ts'],
];

/** The one file that may name bun:test: the test API's Bun side. */
const TEST_API = "fixtures/test.ts";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(tsx?|mjs|js)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** This check spells every forbidden pattern in its samples. */
const THIS_FILE = "scripts/runtime-seam.test.ts";

/** `file:line: what` for each forbidden spelling in the non-test sources outside the seam. */
function seamViolations(root: string): string[] {
  const found: string[] = [];
  for (const folder of FOLDERS) {
    for (const path of sources(join(root, folder))) {
      const file = relative(root, path);
      if (file.startsWith(SEAM) || file === TEST_API || file === THIS_FILE) continue;
      readFileSync(path, "utf8")
        .split("\n")
        .forEach((line, i) => {
          for (const [pattern, what] of FORBIDDEN) if (pattern.test(line)) found.push(`${file}:${i + 1}: ${what}`);
        });
    }
  }
  return found;
}

describe("runtime seam", () => {
  test("no source file outside core/runtime/ names Bun, Deno, import.meta.dir or bun:test", () => {
    expect(seamViolations(ROOT)).toEqual([]);
  });

  test("the check sees each forbidden spelling (it would fail on a violation)", () => {
    const samples = [
      "await Bun.sleep(1);",
      "Deno.exit(0);",
      'join(import.meta.dir, "x")',
      'import type { Server } from "bun";',
      'import { test } from "bun:test";',
    ];
    for (const sample of samples) expect(FORBIDDEN.some(([p]) => p.test(sample))).toBe(true);
    expect(FORBIDDEN.some(([p]) => p.test('join(import.meta.dirname, "x")'))).toBe(false);
  });
});
