/**
 * Secrets at rest: resource credentials, VPN WireGuard configurations, TOTP seeds, identity source secrets and cluster authority keys are sealed with the
 * keyring (core/crypto/envelope.ts). Rotation re-wraps every data key that is
 * not under the active master key, in one transaction, so a half-rotated
 * state is never committed.
 */
import type { ControlDeps } from "./deps.ts";
import type { ChangeContext } from "../core/change.ts";
import { appendAudit } from "../sql/audit.ts";
import { secretsNotUnderKey, updateSecretSealed } from "../sql/resources.ts";
import { setTotpSealed, usersWithTotpKey } from "../sql/users.ts";
import { authoritiesNotUnderKey, updateAuthoritySealed } from "../sql/cluster-authorities.ts";
import { rewrapAuthority } from "../actors/cluster/authority.ts";
import { sourceSecretsNotUnderKey, updateSource } from "../sql/identity-sources.ts";
import { identitySourceAad } from "./identity-sources/secret.ts";
import { setVpnSecret, vpnSecretsNotUnderKey } from "../sql/vpn.ts";
import { vpnSecretAad } from "./vpn/service.ts";

export const resourceSecretAad = (resourceId: string) => `resource-secret:${resourceId}`;
export const userTotpAad = (userId: string) => `user-totp:${userId}`;

export async function rotateSecrets(
  deps: Pick<ControlDeps, "db" | "identity">,
  change: ChangeContext,
): Promise<{
  key_id: string;
  resource_secrets: number;
  vpn_secrets: number;
  totp_seeds: number;
  identity_source_secrets: number;
  cluster_authorities: number;
}> {
  const { keyring } = deps.identity;
  return deps.db.transaction(async (tx) => {
    const secrets = await secretsNotUnderKey(tx, keyring.activeId);
    for (const s of secrets) await updateSecretSealed(tx, s.id, await keyring.rewrap(s.sealed, resourceSecretAad(s.resourceId)));
    const vpn = await vpnSecretsNotUnderKey(tx, keyring.activeId);
    for (const s of vpn) await setVpnSecret(tx, s.connectionId, await keyring.rewrap(s.sealed, vpnSecretAad(s.connectionId)));
    const seeds = await usersWithTotpKey(tx, keyring.activeId);
    for (const u of seeds) await setTotpSealed(tx, u.id, await keyring.rewrap(u.totp, userTotpAad(u.id)));
    const sources = await sourceSecretsNotUnderKey(tx, keyring.activeId);
    for (const src of sources) await updateSource(tx, src.id, { secret: await keyring.rewrap(src.sealed, identitySourceAad(src.id)) });
    const authorities = await authoritiesNotUnderKey(tx, keyring.activeId);
    for (const a of authorities) {
      const { signing, ca } = await rewrapAuthority(keyring, a);
      await updateAuthoritySealed(tx, a.clusterId, signing, ca);
    }
    const result = {
      key_id: keyring.activeId,
      resource_secrets: secrets.length,
      vpn_secrets: vpn.length,
      totp_seeds: seeds.length,
      identity_source_secrets: sources.length,
      cluster_authorities: authorities.length,
    };
    await appendAudit(tx, { change, action: "secret.rotate_keys", targetType: "keyring", targetId: keyring.activeId, outcome: "success", details: result });
    return result;
  });
}
