/**
 * Enrollment from the edge: generate the key here (it never leaves), fetch central's CA over
 * an unauthenticated TLS channel and accept it only if its SHA-256 matches the fingerprint in
 * the token, then send CSR + token over TLS verified against that CA, check the returned
 * certificate really certifies our key, and store everything atomically.
 */
import { promises as fs } from "node:fs";
import { certFingerprint, createCsr, generateKeyPair, parseBundle, parseCert, siteIdOfCert, verifyIssuedBy } from "../../federation/pki.ts";
import { ENROLL_PATHS, IssuedIdentity, parseToken } from "../../federation/enrollment.ts";
import { systemClock, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { readMeta, writeCa, writeGeneration, writeMeta, identityDir, readGeneration, type Identity } from "./store.ts";
import { readResponse } from "./client.ts";

export interface EnrollOptions {
  /** Central's enrollment URL (https://host:port), as printed with the token. */
  centralUrl: string;
  token: string;
  dataDir: string;
  clock?: Clock;
  log?: Logger;
}

export class EnrollError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnrollError";
  }
}

export async function enroll(o: EnrollOptions): Promise<Identity> {
  const clock = o.clock ?? systemClock;
  let token;
  try {
    token = parseToken(o.token);
  } catch (e) {
    throw new EnrollError((e as Error).message);
  }
  let base: URL;
  try {
    base = new URL(o.centralUrl);
  } catch {
    throw new EnrollError(`--central must be a URL like https://central.example:8444, got ${JSON.stringify(o.centralUrl)}`);
  }
  if (base.protocol !== "https:") throw new EnrollError("enrollment needs an https:// central URL");
  if (await readMeta(o.dataDir)) throw new EnrollError(`${identityDir(o.dataDir)} already holds an identity; use a fresh data dir to enroll again`);

  // 1. CA by fingerprint. The channel is not yet authenticated, so only the pinned cert is kept.
  let bundleText: string;
  try {
    const res = await fetch(new URL(ENROLL_PATHS.ca, base), { tls: { rejectUnauthorized: false } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    bundleText = await res.text();
  } catch (e) {
    throw new EnrollError(`cannot reach central at ${base.origin}: ${(e as Error).message}`);
  }
  let pinned: string | null = null;
  for (const c of safeBundle(bundleText)) {
    if ((await certFingerprint(c)) === token.caFingerprint) pinned = c.toString("pem");
  }
  if (!pinned) throw new EnrollError(`the server at ${base.origin} is not the central that made this token (CA fingerprint mismatch)`);

  // 2. Key and CSR, locally.
  const kp = await generateKeyPair();
  const csr = await createCsr(kp.keys, "outpost-edge");

  // 3. Enroll over TLS verified against the pinned CA (hostname checked too).
  let res: Response;
  try {
    res = await fetch(new URL(ENROLL_PATHS.enroll, base), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: o.token.trim(), csr }),
      tls: { ca: pinned, rejectUnauthorized: true },
    });
  } catch (e) {
    throw new EnrollError(`enrollment call to ${base.origin} failed: ${(e as Error).message}`);
  }
  let issued: IssuedIdentity;
  try {
    issued = IssuedIdentity.parse(await readResponse(res));
  } catch (e) {
    throw new EnrollError(`enrollment refused: ${(e as Error).message}`);
  }

  // 4. The certificate must certify our key, name a site, and chain to the pinned CA.
  const cert = parseCert(issued.certPem);
  const ours = Buffer.from(await crypto.subtle.exportKey("spki", kp.keys.publicKey));
  if (!Buffer.from(cert.publicKey.rawData).equals(ours)) throw new EnrollError("central returned a certificate for a different key");
  if (siteIdOfCert(cert) !== issued.siteId) throw new EnrollError("central returned a certificate for a different site");
  if (!(await verifyIssuedBy(cert, [parseCert(pinned)], clock.now() + 60_000))) throw new EnrollError("central returned a certificate not signed by its CA");
  const bundle = safeBundle(issued.caPem);
  if (!(await Promise.all(bundle.map(certFingerprint))).includes(token.caFingerprint)) throw new EnrollError("central's CA bundle does not contain the pinned CA");

  await fs.mkdir(identityDir(o.dataDir), { recursive: true, mode: 0o700 });
  await writeGeneration(o.dataDir, 1, kp.keyPem, issued.certPem);
  await writeCa(o.dataDir, issued.caPem);
  const meta = {
    siteId: issued.siteId,
    siteName: issued.siteName,
    federationUrl: issued.federationUrl,
    mqttUrl: issued.mqttUrl,
    enrolledAt: new Date(clock.now()).toISOString(),
    gen: 1,
  };
  await writeMeta(o.dataDir, meta); // last: until this exists the edge is not enrolled
  o.log?.info("enrolled with central", { siteId: issued.siteId, notAfter: cert.notAfter.toISOString() });
  return readGeneration(o.dataDir, meta, 1);
}

function safeBundle(pem: string) {
  try {
    return parseBundle(pem);
  } catch {
    return [];
  }
}
