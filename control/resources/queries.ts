/** Reads of resources; callers decide which organizations the caller may see. */
import { getResource, listResources, type ResourceFields, type ResourceRow } from "../../sql/resources.ts";
import { reader } from "../read.ts";

export type { ResourceFields, ResourceRow };

export const resource = reader(getResource);
export const resources = reader(listResources);
