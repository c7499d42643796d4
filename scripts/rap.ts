/**
 * `rap`: the operator command line. `rap login` and the commands after it
 * (clusters, nodes, tokens, requests, groups, roles) talk to a control plane
 * through the client of scripts/rap-client.ts; `rap --help` and docs/cli.md
 * list them. `rap root …` is the offline Product Root work:
 *
 *   rap root keygen --out DIR
 *   rap root sign-activation --key FILE --email EMAIL [--name NAME] [--installation-id UUID] [--valid-hours N]
 *   rap root sign-grant --key FILE --installation-id UUID --email EMAIL --role ROLE [--valid-days N]
 *   rap root authorize-release-key --key FILE --release-key PUBFILE [--timestamp-key PUBFILE] --out FILE [--version N] [--valid-days N]
 *
 * keygen writes DIR/product-root.pub (give it to the control plane as
 * INSTALLATION_PRODUCT_ROOT_PUBLIC_KEY_FILE) and DIR/product-root.key (mode
 * 0600; keep it offline). It refuses a DIR inside this repository. The sign
 * commands print a compact JWS on stdout.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve, relative, isAbsolute } from "node:path";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { generateProductRoot, GRANT_TYPE, importPrivateKey, keyFingerprint, newActivation, RoleGrant, signDocument } from "../core/crypto/product-root.ts";
import { newId } from "../core/ids.ts";
import { runCli, UsageError, wantsHelp } from "./rap-commands.ts";
import { metadataBytes, rootMetadata, sign, tufKey } from "../core/updates/tuf.ts";
import { b64, fromB64url } from "../core/crypto/bytes.ts";

const REPO = resolve(import.meta.dirname, "..");

async function keygen(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { out: { type: "string" } }, strict: true });
  if (!values.out) throw new UsageError("keygen needs --out DIR (outside this repository)");
  const dir = resolve(values.out);
  const rel = relative(REPO, dir);
  if (!rel.startsWith("..") && !isAbsolute(rel))
    throw new UsageError(`refusing to write a private key inside the repository (${dir}); choose a directory outside it`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pair = await generateProductRoot();
  const keyFile = join(dir, "product-root.key");
  await writeFile(keyFile, `${pair.privateKeyPkcs8B64}\n`, { mode: 0o600, flag: "wx" }).catch((err) => {
    throw new UsageError(err.code === "EEXIST" ? `${keyFile} exists; refusing to overwrite a Product Root key` : `cannot write ${keyFile}: ${err.message}`);
  });
  await chmod(keyFile, 0o600);
  await writeFile(join(dir, "product-root.pub"), `${pair.publicKeyB64}\n`, { mode: 0o644 });
  console.log(`public key:  ${join(dir, "product-root.pub")}\nprivate key: ${keyFile} (keep offline)\nfingerprint: ${await keyFingerprint(pair.publicKeyB64)}`);
}

async function loadKey(path: string | undefined): Promise<CryptoKey> {
  if (!path) throw new UsageError("--key FILE (the product-root.key from keygen) is required");
  const text = await readFile(path, "utf8").catch(() => {
    throw new UsageError(`cannot read ${path}`);
  });
  return importPrivateKey(text).catch(() => {
    throw new UsageError(`${path} is not a Product Root private key`);
  });
}

async function signActivation(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      key: { type: "string" },
      email: { type: "string" },
      name: { type: "string" },
      "installation-id": { type: "string" },
      "valid-hours": { type: "string" },
    },
    strict: true,
  });
  if (!values.email) throw new UsageError("--email is required");
  const hours = Number(values["valid-hours"] ?? "72");
  if (!Number.isFinite(hours) || hours <= 0 || hours > 24 * 30) throw new UsageError("--valid-hours must be between 1 and 720");
  const manifest = newActivation({
    installationId: values["installation-id"] ?? newId(),
    ownerEmail: values.email,
    ownerDisplayName: values.name,
    now: new Date(),
    validForMs: hours * 3600_000,
  });
  console.log(await signDocument(await loadKey(values.key), manifest));
}

async function signGrant(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      key: { type: "string" },
      email: { type: "string" },
      role: { type: "string" },
      "installation-id": { type: "string" },
      "valid-days": { type: "string" },
    },
    strict: true,
  });
  const now = new Date();
  const days = values["valid-days"] ? Number(values["valid-days"]) : undefined;
  const r = v.safeParse(RoleGrant, {
    typ: GRANT_TYPE,
    grant_id: newId(),
    installation_id: values["installation-id"],
    subject_email: values.email,
    role: values.role,
    issued_at: now.toISOString(),
    expires_at: days ? new Date(now.getTime() + days * 86_400_000).toISOString() : undefined,
  });
  if (!r.success) throw new UsageError(`invalid grant: ${r.issues.map((i) => `${v.getDotPath(i)}: ${i.message}`).join("; ")}`);
  console.log(await signDocument(await loadKey(values.key), r.output));
}

/**
 * Root metadata of the release repository (docs/updates.md): the Product Root
 * keeps the TUF root role and names the release key for targets, snapshot and
 * timestamp. A new key (rotation) is a new --version, which clients accept
 * because the previous root's key (the Product Root) signed it.
 */
async function authorizeReleaseKey(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      key: { type: "string" },
      "release-key": { type: "string" },
      "timestamp-key": { type: "string" },
      out: { type: "string" },
      version: { type: "string" },
      "valid-days": { type: "string" },
    },
    strict: true,
  });
  if (!values["release-key"] || !values.out)
    throw new UsageError("--release-key PUBFILE (release.pub from scripts/release keygen) and --out FILE are required");
  const version = Number(values.version ?? "1");
  if (!Number.isInteger(version) || version < 1) throw new UsageError("--version is a whole number from 1");
  const days = Number(values["valid-days"] ?? "365");
  if (!Number.isFinite(days) || days <= 0 || days > 3650) throw new UsageError("--valid-days must be between 1 and 3650");
  const releasePub = await readFile(values["release-key"], "utf8").catch(() => {
    throw new UsageError(`cannot read ${values["release-key"]}`);
  });
  await tufKey(releasePub).catch(() => {
    throw new UsageError(`${values["release-key"]} is not an Ed25519 public key (release.pub)`);
  });
  const timestampPub = values["timestamp-key"]
    ? await readFile(values["timestamp-key"], "utf8").catch(() => {
        throw new UsageError(`cannot read ${values["timestamp-key"]}`);
      })
    : undefined;
  if (timestampPub !== undefined)
    await tufKey(timestampPub).catch(() => {
      throw new UsageError(`${values["timestamp-key"]} is not an Ed25519 public key (timestamp.pub from scripts/release keygen --timestamp)`);
    });
  const privateKey = await loadKey(values.key);
  // The Product Root's public half, from the private key file (a JWK export carries it as x).
  const pkcs8 = (await readFile(values.key as string, "utf8")).trim();
  const extractable = await crypto.subtle.importKey("pkcs8", Buffer.from(pkcs8, "base64"), { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", extractable);
  const productRootPub = b64(fromB64url(jwk.x as string));
  const md = await rootMetadata({
    productRootPublicB64: productRootPub,
    releasePublicB64: releasePub,
    timestampPublicB64: timestampPub,
    version,
    expires: new Date(Date.now() + days * 86_400_000),
  });
  await sign(md, { key: await tufKey(productRootPub), privateKey });
  await writeFile(values.out, metadataBytes(md));
  const timestampNote = timestampPub ? ` and timestamp key ${await keyFingerprint(timestampPub.trim())}` : " (it signs timestamps too)";
  console.log(`root version ${version} authorizing release key ${await keyFingerprint(releasePub.trim())}${timestampNote}: ${values.out}`);
}

const ROOT_COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  keygen,
  "sign-activation": signActivation,
  "sign-grant": signGrant,
  "authorize-release-key": authorizeReleaseKey,
};

const ROOT_HELP = `usage: rap root <command> [options]   (offline: no control plane involved)

  rap root keygen --out DIR
      a Product Root key pair: DIR/product-root.pub and DIR/product-root.key (0600; keep offline)
  rap root sign-activation --key FILE --email EMAIL [--name NAME] [--installation-id UUID] [--valid-hours N]
      a signed activation manifest for the first owner (printed as a compact JWS)
  rap root sign-grant --key FILE --installation-id UUID --email EMAIL --role ROLE [--valid-days N]
      a signed platform role grant (printed as a compact JWS)
  rap root authorize-release-key --key FILE --release-key PUBFILE [--timestamp-key PUBFILE] --out FILE [--version N] [--valid-days N]
      root metadata of the release repository naming the release key for targets and snapshot and the
      online timestamp key for timestamps (without --timestamp-key the release key signs all three)
      (docs/updates.md)`;

async function root(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    console.error(ROOT_HELP);
    return 2;
  }
  if (command === "--help" || command === "-h" || (ROOT_COMMANDS[command] && wantsHelp(rest))) {
    console.log(ROOT_HELP);
    return 0;
  }
  const run = ROOT_COMMANDS[command];
  if (!run) {
    console.error(`rap: unknown command "root ${command}"\n\n${ROOT_HELP}`);
    return 2;
  }
  await run(rest);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  try {
    if (argv[0] === "root") return await root(argv.slice(1));
    return await runCli(argv);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`rap: ${(err as Error).message}`);
      return 2;
    }
    throw err;
  }
}

process.exit(await main(process.argv.slice(2)));
