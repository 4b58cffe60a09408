import { expect, test } from "bun:test";
import { certFingerprint, createCa, generateKeyPair, issueSiteCert, parseCert } from "../../federation/pki.ts";
import { signText, verifyText } from "../../federation/custody/format.ts";
import { custodySigner, signerCache } from "./signer.ts";

// The signer reads key and certificate with the runtime's parsers (no X.509 stack on a recording
// edge): it must agree with federation/pki.ts, which verifiers and central use.
test("custody signer: fingerprint as pki computes it, signatures verify with the certificate's key, one signer per certificate", async () => {
  const ca = await createCa({ name: "test CA", now: Date.now(), lifetimeDays: 30 });
  const kp = await generateKeyPair();
  const certPem = (await issueSiteCert({ ca, publicKey: kp.keys.publicKey, now: Date.now(), lifetimeDays: 10, siteId: "site-1" })).toString("pem");
  const s = await custodySigner({ keyPem: kp.keyPem, certPem });
  expect(s.certFp).toBe(await certFingerprint(certPem));
  expect(s.certPem).toBe(certPem);
  const sig = await signText(s.key, "head 42");
  const publicKey = await parseCert(certPem).publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
  expect(await verifyText(publicKey, "head 42", sig)).toBe(true);
  expect(await verifyText(publicKey, "head 43", sig)).toBe(false);
  const cache = signerCache();
  const a = await cache({ keyPem: kp.keyPem, certPem });
  expect(await cache({ keyPem: kp.keyPem, certPem })).toBe(a);
  expect(await cache(null)).toBeNull();
  // A key that is not a key: refused, not a signer that signs nothing.
  expect(custodySigner({ keyPem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", certPem })).rejects.toThrow();
});
