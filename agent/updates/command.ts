/**
 * `rap-node-agent update`: the operator's hands on the A/B slots.
 *
 *   update install --artifact FILE [--updates-dir DIR]   the first agent, into slot a (current and known good)
 *   update request --version V [--updates-dir DIR]       ask the running agent to go to V (it looks on every heartbeat)
 *   update status [--updates-dir DIR]                    the update state as JSON
 *   update rollback [--updates-dir DIR]                  point current at known good (then restart the launcher)
 *   update migrate-store --state-dir DIR                 apply this version's store migrations (the updater runs it from a staged slot)
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { ReleaseVersion } from "../../core/updates/manifest.ts";
import { AgentError } from "../client.ts";
import { Slots, SlotError } from "./slots.ts";
import { AgentStore } from "../store.ts";
import { systemClock } from "../clock.ts";

export const UPDATE_USAGE = `usage: rap-node-agent update install|request|status|rollback [options]

The agent's A/B slots, run by agent/packaging/rap-agent-launcher (docs/updates.md).

  install --artifact FILE   unpack an agent artifact (from scripts/release build) into slot a
  request --version V       ask the running agent to update to V (signed releases only)
  status                    the update state, the slots and their versions, as JSON
  rollback                  by hand: point current at the known-good slot (restart the launcher after)
  migrate-store --state-dir DIR
                            apply this version's node-local store migrations (the updater runs it from the
                            staged slot, after backing the store up); prints the schema version
  --updates-dir DIR         the slots (default $RAP_AGENT_UPDATES_DIR or /var/lib/rap-node-agent/updates)`;

class UpdateUsage extends Error {
  readonly code = "ERR_PARSE_ARGS_UPDATE";
}

export async function cmdUpdate(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: { artifact: { type: "string" }, version: { type: "string" }, "updates-dir": { type: "string" }, "state-dir": { type: "string" } },
    strict: true,
  });
  const dir = values["updates-dir"] ?? process.env.RAP_AGENT_UPDATES_DIR ?? "/var/lib/rap-node-agent/updates";
  const slots = new Slots(dir);
  const host = { os: "linux", arch: process.arch === "arm64" ? "arm64" : "x64" };
  try {
    switch (sub) {
      case "install": {
        if (!values.artifact) throw new UpdateUsage("update install needs --artifact FILE");
        const version = await slots.install(values.artifact, host);
        process.stderr.write(`rap-node-agent: installed ${version} in ${join(dir, "slots/a")} (current and known good)\n`);
        return 0;
      }
      case "request": {
        if (!values.version || !v.is(ReleaseVersion, values.version)) throw new UpdateUsage("update request needs --version MAJOR.MINOR.PATCH");
        await slots.view();
        await writeFile(join(dir, ".desired.tmp"), `${values.version}\n`);
        await rename(join(dir, ".desired.tmp"), join(dir, "desired"));
        process.stderr.write(`rap-node-agent: asked for ${values.version}; the agent starts on its next heartbeat\n`);
        return 0;
      }
      case "status": {
        const view = await slots.view();
        const status = await readFile(join(dir, "status.json"), "utf8").then(
          (t) => JSON.parse(t),
          () => null,
        );
        process.stdout.write(`${JSON.stringify({ slots: view, update: status }, null, 2)}\n`);
        return 0;
      }
      case "migrate-store": {
        if (!values["state-dir"]) throw new UpdateUsage("update migrate-store needs --state-dir DIR");
        const store = await AgentStore.open(join(values["state-dir"], "state.db"), systemClock);
        try {
          process.stdout.write(`${await store.schemaVersion()}\n`);
        } finally {
          store.close();
        }
        return 0;
      }
      case "rollback": {
        await slots.rollBack();
        process.stderr.write("rap-node-agent: current points at the known-good slot; restart the launcher (systemctl restart rap-node-agent)\n");
        return 0;
      }
      default:
        throw new UpdateUsage(sub === undefined ? "update needs a subcommand" : `unknown update subcommand '${sub}'`);
    }
  } catch (err) {
    if (err instanceof SlotError) throw new AgentError("update_slots", `${err.message}; fix: see docs/updates.md#recovering-a-node-by-hand`);
    throw err;
  }
}
