/** Every actor kind the control plane hosts. A new actor kind registers here. */
import type { ActorKind } from "./host/kind.ts";
import { clusterKind } from "./cluster/kind.ts";

export const actorKinds: ActorKind[] = [clusterKind];
