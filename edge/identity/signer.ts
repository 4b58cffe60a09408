/**
 * The custody signer of an identity: the site's enrollment key (ECDSA P-256) signs hash-chain
 * heads (lib/custody). One signer per certificate generation, cached so a rotation switches
 * keys at the next signature.
 */
import { certFingerprint, importKeyPem } from "../../federation/pki.ts";
import type { CustodySigner } from "../../federation/custody/index.ts";
import type { Identity } from "./store.ts";

export async function custodySigner(id: Pick<Identity, "keyPem" | "certPem">): Promise<CustodySigner> {
  return { key: await importKeyPem(id.keyPem), certPem: id.certPem, certFp: await certFingerprint(id.certPem) };
}

/** Memoises custodySigner per certificate so each signature does not re-import the key. */
export function signerCache(): (id: Pick<Identity, "keyPem" | "certPem"> | null | undefined) => Promise<CustodySigner | null> {
  let last: { certPem: string; signer: Promise<CustodySigner> } | null = null;
  return async (id) => {
    if (!id) return null;
    if (last?.certPem !== id.certPem) last = { certPem: id.certPem, signer: custodySigner(id) };
    return last.signer;
  };
}
