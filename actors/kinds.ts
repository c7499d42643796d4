/** Every actor kind the control plane hosts. A new actor kind registers here. */
import type { ActorKind } from "./host/kind.ts";
import { clusterKind } from "./cluster/kind.ts";
import { joinRequestKind } from "./join-request/kind.ts";
import { nodeKind } from "./node/kind.ts";
import { remoteSessionKind } from "./remote-session/kind.ts";

export const actorKinds: ActorKind[] = [clusterKind, joinRequestKind, nodeKind, remoteSessionKind];
