/**
 * The one secret of an identity source (an OIDC client secret or an LDAP
 * bind password), sealed with the keyring and bound to its source by the
 * associated data, so a sealed value copied onto another source will not open.
 */
import type { Keyring, Sealed } from "../../core/crypto/envelope.ts";
import type { Tx } from "../../sql/db.ts";
import { getSourceSecret } from "../../sql/identity-sources.ts";

export const identitySourceAad = (sourceId: string) => `identity-source:${sourceId}`;

export function sealSourceSecret(keyring: Keyring, sourceId: string, secret: string): Promise<Sealed> {
  return keyring.seal(new TextEncoder().encode(secret), identitySourceAad(sourceId));
}

/** The plaintext, for the one call that needs it; never logged or returned. */
export async function openSourceSecret(tx: Tx, keyring: Keyring, sourceId: string): Promise<string> {
  const sealed = await getSourceSecret(tx, sourceId);
  if (!sealed) return "";
  return new TextDecoder().decode(await keyring.open(sealed, identitySourceAad(sourceId)));
}
