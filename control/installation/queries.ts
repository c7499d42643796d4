/** Reads of the installation record and the Product Root signed platform role grants. */
import { getInstallation, listGrants } from "../../sql/installation.ts";
import { reader } from "../read.ts";

export const installation = reader(getInstallation);
export const platformRoleGrants = reader(listGrants);
