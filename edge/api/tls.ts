/**
 * The edge's local API certificate. An edge must serve HTTPS from its first start, before it
 * is enrolled (and many never are), so it makes its own: a self-signed P-256 certificate for
 * api.serverNames, kept in DIR/api-tls/ (key 0600) and reused across restarts so a browser or
 * client that pinned or imported it keeps trusting it. Made anew only when the names change or
 * it nears expiry. The admin may bring their own instead (api.tls). docs/design/trust.md.
 */
import { promises as fs } from "node:fs";
import { X509Certificate, createPublicKey } from "node:crypto";
import { isIP } from "node:net";
import path from "node:path";
import { fingerprintHex } from "../../federation/serial.ts";
import { writeFileAtomic } from "../../lib/fsutil.ts";
import type { Logger } from "../../lib/log/index.ts";

/** Long-lived: the certificate is its own trust anchor, and a new one means every client re-trusts. */
export const SELF_SIGNED_LIFETIME_DAYS = 3650;

export interface EdgeApiCert {
  cert: string;
  key: string;
  /** DIR/api-tls/cert.pem: the file a user imports or pins. */
  certFile: string;
  /** SHA-256 of the certificate DER, hex (what a user compares when trusting it). */
  fingerprint: string;
}

export async function loadOrCreateApiCert(dataDir: string, names: string[], now: number, log: Logger): Promise<EdgeApiCert> {
  const dir = path.join(dataDir, "api-tls");
  const certFile = path.join(dir, "cert.pem");
  const keyFile = path.join(dir, "key.pem");
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const existing = await Promise.all([fs.readFile(certFile, "utf8"), fs.readFile(keyFile, "utf8")]).catch(() => null);
  // The usual start: the kept certificate still fits, checked with the runtime's X509Certificate.
  // The X.509 stack (@peculiar/x509, ~230 modules, ~7 MB resident) loads only to decide on or
  // make a new one (docs/design/memory.md).
  const kept = existing && keptFingerprint(existing[0], existing[1], names, now);
  if (existing && kept) return { cert: existing[0], key: existing[1], certFile, fingerprint: kept };
  const { certFingerprint, generateKeyPair, parseCert, selfSignedServerCert, serverNamesOf } = await import("../../federation/pki.ts");
  if (existing) {
    const [cert, key] = existing;
    const c = parseCert(cert);
    const have = new Set(serverNamesOf(c));
    const sameNames = names.length === have.size && names.every((n) => have.has(n));
    if (!keyMatches(key, c.publicKey.rawData)) log.warn("the local API key does not match its certificate (interrupted write?); making a new pair", { certFile });
    else if (sameNames && c.notAfter.getTime() - now > 30 * DAY_MS) return { cert, key, certFile, fingerprint: await certFingerprint(c) };
    log.info("replacing the local API certificate", { reason: sameNames ? "expires soon" : "api.serverNames changed", names });
  }
  const kp = await generateKeyPair();
  const c = await selfSignedServerCert({ names, now, lifetimeDays: SELF_SIGNED_LIFETIME_DAYS, keys: kp.keys });
  const cert = c.toString("pem");
  // a crash between the two writes leaves a mismatched pair, which keyMatches catches at the next start
  await writeFileAtomic(keyFile, kp.keyPem, 0o600);
  await writeFileAtomic(certFile, cert); // 0600 like every file in the data directory; clients get it from the path printed at start
  const fingerprint = await certFingerprint(c);
  log.info("created a self-signed local API certificate", { names, certFile, fingerprint: `sha256:${fingerprint}` });
  return { cert, key: kp.keyPem, certFile, fingerprint };
}

const DAY_MS = 86_400_000;

/** SHA-256 fingerprint (hex) of the kept certificate if it names exactly `names`, matches the key and is not near expiry; else null. */
function keptFingerprint(certPem: string, keyPem: string, names: string[], now: number): string | null {
  try {
    const c = new X509Certificate(certPem);
    // "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1": IPs compared in one form.
    const have = new Set((c.subjectAltName ?? "").split(", ").map((e) => (e.startsWith("DNS:") ? e.slice(4) : e.startsWith("IP Address:") ? canonicalIp(e.slice(11)) : `?${e}`)));
    const sameNames = names.length === have.size && names.every((n) => have.has(isIP(n) ? canonicalIp(n) : n));
    if (!sameNames || new Date(c.validTo).getTime() - now <= 30 * DAY_MS) return null;
    if (!keyMatches(keyPem, c.publicKey.export({ type: "spki", format: "der" }))) return null;
    return fingerprintHex(c);
  } catch {
    return null; // unreadable here: the full check below decides
  }
}

function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname : ip;
}

function keyMatches(keyPem: string, spki: ArrayBuffer | Uint8Array): boolean {
  try {
    return Buffer.from(createPublicKey(keyPem).export({ type: "spki", format: "der" })).equals(spki instanceof Uint8Array ? spki : new Uint8Array(spki));
  } catch {
    return false;
  }
}
