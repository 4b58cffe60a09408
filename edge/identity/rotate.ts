/**
 * Certificate renewal from the edge, over the existing mTLS channel with a fresh key.
 * Two steps so nothing is ever left without a working identity:
 *   begin   — CSR with a new key, signed over mTLS with the current cert → new generation
 *             written to disk, pending.json points to it (current still valid at central);
 *   confirm — a call made *with the new cert* tells central to make it current (the old serial
 *             stops working), then identity.json is switched and the old generation deleted.
 * After a crash between central's confirm and the local switch, resumeRotation() (run at
 * startup and by the renewal loop) finishes the job; confirm is idempotent at central.
 */
import { FEDERATION_PATHS, type ConfirmResponse } from "../../federation/enrollment.ts";
import { systemClock, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { FederationError, federationCall } from "./client.ts";
import { clearPending, readGeneration, readMeta, readPendingGen, removeGeneration, writeCa, writeGeneration, writeMeta, writePending, type Identity } from "./store.ts";

/** Current identity, or null when this data dir was never enrolled. Does not touch the network. */
export async function loadIdentity(dataDir: string): Promise<Identity | null> {
  const meta = await readMeta(dataDir);
  return meta ? readGeneration(dataDir, meta, meta.gen) : null;
}

export async function loadPendingIdentity(dataDir: string): Promise<Identity | null> {
  const meta = await readMeta(dataDir);
  const gen = await readPendingGen(dataDir);
  if (!meta || gen === null || gen === meta.gen) return null;
  try {
    return await readGeneration(dataDir, meta, gen);
  } catch {
    return null; // half-written generation from a crash: pending.json is written last, so this is stale
  }
}

/** Renewal is due once `fraction` (default 2/3) of the certificate's lifetime has passed. */
export function renewalDue(id: Identity, now: number, fraction = 2 / 3): boolean {
  return now >= id.notBefore + (id.notAfter - id.notBefore) * fraction;
}

export async function beginRotation(dataDir: string, o: { log?: Logger } = {}): Promise<Identity> {
  const meta = await readMeta(dataDir);
  if (!meta) throw new Error(`no identity in ${dataDir}; enroll first`);
  const current = await readGeneration(dataDir, meta, meta.gen);
  // The X.509 stack loads when a renewal is due, not with every edge that is enrolled (docs/design/memory.md).
  const { createCsr, generateKeyPair, parseBundle, parseCert, siteIdOfCert } = await import("../../federation/pki.ts");
  const kp = await generateKeyPair();
  const csr = await createCsr(kp.keys, current.siteId);
  const r = await federationCall<{ certPem: string; caPem: string }>(current, FEDERATION_PATHS.renew, { body: { csr } });
  const cert = parseCert(r.certPem);
  const ours = Buffer.from(await crypto.subtle.exportKey("spki", kp.keys.publicKey));
  if (!Buffer.from(cert.publicKey.rawData).equals(ours)) throw new Error("central returned a certificate for a different key");
  if (siteIdOfCert(cert) !== current.siteId) throw new Error("central returned a certificate for a different site");
  const gen = Math.max(meta.gen, (await readPendingGen(dataDir)) ?? 0) + 1;
  await writeGeneration(dataDir, gen, kp.keyPem, r.certPem);
  // The bundle came over mTLS verified with the old bundle; it may now hold old + new CA.
  if (parseBundle(r.caPem).length > 0) await writeCa(dataDir, r.caPem);
  await writePending(dataDir, gen);
  o.log?.info("certificate renewed; confirming", { siteId: current.siteId, gen });
  return readGeneration(dataDir, meta, gen);
}

/** Confirm the pending generation with central and switch to it. Returns the new current identity. */
export async function confirmRotation(dataDir: string, o: { log?: Logger } = {}): Promise<Identity> {
  const meta = await readMeta(dataDir);
  const pending = await loadPendingIdentity(dataDir);
  if (!meta || !pending) {
    await clearPending(dataDir);
    const cur = await loadIdentity(dataDir);
    if (!cur) throw new Error(`no identity in ${dataDir}`);
    return cur;
  }
  try {
    await federationCall<ConfirmResponse>(pending, FEDERATION_PATHS.confirm, { method: "POST", body: {} });
  } catch (e) {
    if (e instanceof FederationError && (e.status === 401 || e.status === 403)) {
      // Central does not know this certificate (it never recorded it, or a newer renewal replaced
      // it): the current generation stays, the pending one is dropped.
      o.log?.warn("central refused the renewed certificate; keeping the current one", { err: e });
      await clearPending(dataDir);
      await removeGeneration(dataDir, pending.gen);
      return readGeneration(dataDir, meta, meta.gen);
    }
    throw e;
  }
  const oldGen = meta.gen;
  await writeMeta(dataDir, { ...meta, gen: pending.gen });
  await clearPending(dataDir);
  await removeGeneration(dataDir, oldGen);
  o.log?.info("certificate rotation confirmed", { siteId: pending.siteId, serial: pending.serial, notAfter: new Date(pending.notAfter).toISOString() });
  return readGeneration(dataDir, { ...meta, gen: pending.gen }, pending.gen);
}

export async function rotate(dataDir: string, o: { log?: Logger } = {}): Promise<Identity> {
  await beginRotation(dataDir, o);
  return confirmRotation(dataDir, o);
}

/** Finish a rotation interrupted by a crash; no-op when none is pending. */
export async function resumeRotation(dataDir: string, o: { log?: Logger } = {}): Promise<Identity | null> {
  if (!(await loadPendingIdentity(dataDir))) return loadIdentity(dataDir);
  return confirmRotation(dataDir, o);
}

export interface RenewalOptions {
  clock?: Clock;
  log?: Logger;
  /** How often to check whether renewal is due (default 1 h). */
  checkEveryMs?: number;
  fraction?: number;
  /** Called with the new identity after a confirmed rotation (reconnect MQTT/HTTPS with it). */
  onRotated?: (id: Identity) => void | Promise<void>;
}

/**
 * Background renewal: resumes an interrupted rotation, then renews when due. Failures (link
 * down) are logged and retried at the next check; the current certificate keeps working.
 */
export function startRenewal(dataDir: string, o: RenewalOptions = {}): { stop(): void; checkNow(): Promise<void> } {
  const clock = o.clock ?? systemClock;
  let running: Promise<void> | null = null;
  const tick = async () => {
    const before = await loadIdentity(dataDir);
    let id = await resumeRotation(dataDir, o);
    if (id && before && id.serial !== before.serial) await o.onRotated?.(id);
    if (!id || !renewalDue(id, clock.now(), o.fraction)) return;
    id = await rotate(dataDir, o);
    await o.onRotated?.(id);
  };
  const checkNow = () => {
    running ??= tick()
      .catch((e) => o.log?.warn("certificate renewal failed; will retry", { err: e as Error }))
      .finally(() => (running = null));
    return running;
  };
  const timer = setInterval(checkNow, o.checkEveryMs ?? 3_600_000);
  void checkNow();
  return { stop: () => clearInterval(timer), checkNow };
}
