/**
 * Certificate identifiers in the one form we compare, read with the runtime's X509Certificate: no
 * X.509 library needed (federation/pki.ts re-exports normSerial; its certFingerprint gives the same hex).
 */
import type { X509Certificate } from "node:crypto";

/** Lower-case hex without leading zeros: the one serial format we compare (Node prints upper case). */
export function normSerial(s: string): string {
  return s.toLowerCase().replace(/^0+/, "") || "0";
}

/** SHA-256 of the certificate's DER as lower-case hex (the runtime prints "AB:CD:…"). */
export function fingerprintHex(cert: X509Certificate): string {
  return cert.fingerprint256.replaceAll(":", "").toLowerCase();
}
