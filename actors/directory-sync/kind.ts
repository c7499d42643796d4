/**
 * Registers the directory-sync actor. It has no projection table (the
 * source's last sync result lives on `identity_sources`); its one effect
 * hands the source to the control plane's sync runner, which runs it in the
 * background so the timer scheduler never waits on a directory.
 */
import type { AnyMachineSnapshot } from "xstate";
import type { ActorKind } from "../host/kind.ts";
import { DIRECTORY_SYNC, directorySyncMachine, RUN_SYNC, type DirectorySyncContext } from "./machine.ts";

/** Where a due sync goes: the control plane's runner (control/identity-sources/directory-sync.ts). */
export interface DirectorySyncRunner {
  request(sourceId: string): void;
}

/** `runner` is looked up when a sync is due: the runner is built after the host. Without one, a due sync is logged and skipped. */
export function directorySyncKind(runner: () => DirectorySyncRunner | undefined = () => undefined): ActorKind {
  return {
    kind: DIRECTORY_SYNC,
    machine: directorySyncMachine,
    machineVersion: 1,
    project: async () => {},
    organizationOf: (s: AnyMachineSnapshot) => (s.context as DirectorySyncContext).organizationId,
    effects: {
      [RUN_SYNC]: async (_params, deps, done) => {
        const r = runner();
        if (r) r.request(done.id);
        else deps.log.warn("directory sync due but no sync runner on this replica", { "actor.id": done.id });
      },
    },
  };
}
