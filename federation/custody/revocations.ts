/**
 * The revocation list a package carries: the CA's list as known at export, signed with the CA
 * key so a verifier can trust it as much as the CA. An exporter without the CA key (the edge)
 * puts an unsigned, empty list that says so; the verifier then reports revocation as unknown.
 */
import { normSerial } from "../pki.ts";
import { revocationMessage, signText, type Revocation, type RevocationList } from "./format.ts";

export async function signedRevocations(caKey: CryptoKey, revoked: Revocation[], issuedAtMs: number): Promise<RevocationList> {
  const list = { issuedAtMs, revoked: revoked.map((r) => ({ ...r, serial: normSerial(r.serial) })) };
  return { ...list, sig: await signText(caKey, revocationMessage(list)), source: "central CA" };
}

export function unknownRevocations(issuedAtMs: number, source: string): RevocationList {
  return { issuedAtMs, revoked: [], source };
}
