/**
 * Bundles browser TypeScript under web/ with esbuild (an npm package with a
 * native binary, the same on Bun and Deno), in memory: nothing built is
 * written or committed. Output names follow the entry's folder
 * (`web/console/main.ts` → `console.js`), as the pages link them.
 */
import { build } from "esbuild";
import { dirname, relative } from "node:path";

/** Entry files → `<name>.js` → source. `name` is the entry's folder relative to `root` ("console", "access/desktop"). */
export async function bundleForBrowser(entries: string[], root: string): Promise<Map<string, string>> {
  const out = await build({
    entryPoints: entries,
    bundle: true,
    platform: "browser",
    format: "esm",
    minify: true,
    write: false,
    outbase: root,
    outdir: root,
    entryNames: "[dir]",
    // As Bun's bundler did: no license comments in the served bundle (they carry other origins' URLs).
    logLevel: "silent",
    legalComments: "none",
  }).catch((err: { errors?: { text: string }[] }) => {
    throw new Error(`bundling ${entries.map((e) => relative(root, e)).join(", ")} failed: ${(err.errors ?? []).map((e) => e.text).join("; ") || String(err)}`);
  });
  const files = new Map<string, string>();
  for (const file of out.outputFiles) files.set(relative(root, file.path), file.text);
  return files;
}

/** One entry's bundle (its folder's name does not matter). */
export async function bundleOne(entry: string): Promise<string> {
  const files = await bundleForBrowser([entry], dirname(entry));
  const [source] = files.values();
  if (source === undefined) throw new Error(`bundling ${entry} produced nothing`);
  return source;
}
