/**
 * The custody signer of an identity: the site's enrollment key (ECDSA P-256) signs hash-chain
 * heads (lib/custody). One signer per certificate generation, cached so a rotation switches
 * keys at the next signature.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { CustodySigner } from "../../federation/custody/index.ts";
import { fingerprintHex } from "../../federation/serial.ts";
import type { Identity } from "./store.ts";

/**
 * With the runtime's own key and certificate parsers, not federation/pki.ts: a recording edge
 * signs a head every few seconds, and the X.509 stack behind pki.ts (~230 modules, ~7 MB
 * resident) is otherwise needed only to renew (docs/design/memory.md).
 */
export async function custodySigner(id: Pick<Identity, "keyPem" | "certPem">): Promise<CustodySigner> {
  const pkcs8 = createPrivateKey(id.keyPem).export({ type: "pkcs8", format: "der" });
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return { key, certPem: id.certPem, certFp: fingerprintHex(new X509Certificate(id.certPem)) };
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
