/**
 * The edge's identity on disk (DIR/identity/). Each certificate generation has its own
 * directory (gen-N/key.pem 0600, gen-N/cert.pem); identity.json names the current generation
 * and pending.json a renewed one not yet confirmed by central. Every file is written
 * tmp + fsync + rename + dir fsync, and the pointer files are written last, so a power cut at
 * any instant leaves a complete current generation.
 */
import { X509Certificate } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import { fsyncDir, writeFileAtomic } from "../../lib/fsutil.ts";
import { normSerial } from "../../federation/serial.ts";

export interface IdentityMeta {
  siteId: string;
  siteName: string;
  federationUrl: string;
  mqttUrl: string;
  enrolledAt: string;
  gen: number;
}

export interface Identity {
  dataDir: string;
  siteId: string;
  siteName: string;
  federationUrl: string;
  mqttUrl: string;
  gen: number;
  keyPem: string;
  certPem: string;
  /** CA bundle this edge trusts for central's server certificate. */
  caPem: string;
  serial: string;
  notBefore: number;
  notAfter: number;
}

export function identityDir(dataDir: string): string {
  return path.join(dataDir, "identity");
}
const genDir = (dataDir: string, gen: number) => path.join(identityDir(dataDir), `gen-${gen}`);
const metaFile = (dataDir: string) => path.join(identityDir(dataDir), "identity.json");
const pendingFile = (dataDir: string) => path.join(identityDir(dataDir), "pending.json");
const caFile = (dataDir: string) => path.join(identityDir(dataDir), "ca.pem");

/** Write a generation's key and certificate (not yet pointed to). */
export async function writeGeneration(dataDir: string, gen: number, keyPem: string, certPem: string): Promise<void> {
  const dir = genDir(dataDir, gen);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path.join(dir, "key.pem"), keyPem);
  await writeFileAtomic(path.join(dir, "cert.pem"), certPem);
  await fsyncDir(identityDir(dataDir));
}

export async function writeCa(dataDir: string, caPem: string): Promise<void> {
  await writeFileAtomic(caFile(dataDir), caPem);
}

export async function writeMeta(dataDir: string, meta: IdentityMeta): Promise<void> {
  await writeFileAtomic(metaFile(dataDir), JSON.stringify(meta, null, 2) + "\n");
}

export async function writePending(dataDir: string, gen: number): Promise<void> {
  await writeFileAtomic(pendingFile(dataDir), JSON.stringify({ gen }) + "\n");
}

export async function clearPending(dataDir: string): Promise<void> {
  await fs.rm(pendingFile(dataDir), { force: true });
  await fsyncDir(identityDir(dataDir));
}

export async function removeGeneration(dataDir: string, gen: number): Promise<void> {
  await fs.rm(genDir(dataDir, gen), { recursive: true, force: true });
}

export async function readMeta(dataDir: string): Promise<IdentityMeta | null> {
  try {
    return JSON.parse(await fs.readFile(metaFile(dataDir), "utf8")) as IdentityMeta;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`edge identity in ${identityDir(dataDir)} is unreadable: ${(e as Error).message}`);
  }
}

export async function readPendingGen(dataDir: string): Promise<number | null> {
  try {
    const g = (JSON.parse(await fs.readFile(pendingFile(dataDir), "utf8")) as { gen: number }).gen;
    return Number.isInteger(g) ? g : null;
  } catch {
    return null;
  }
}

export async function readGeneration(dataDir: string, meta: IdentityMeta, gen: number): Promise<Identity> {
  const dir = genDir(dataDir, gen);
  const [keyPem, certPem, caPem] = await Promise.all([
    fs.readFile(path.join(dir, "key.pem"), "utf8"),
    fs.readFile(path.join(dir, "cert.pem"), "utf8"),
    fs.readFile(caFile(dataDir), "utf8"),
  ]);
  // The runtime's parser, not federation/pki.ts: reading the identity at every start must not
  // load the X.509 stack (~230 modules, ~7 MB resident), needed only to enroll and renew.
  const cert = new X509Certificate(certPem);
  return {
    dataDir,
    siteId: meta.siteId,
    siteName: meta.siteName,
    federationUrl: meta.federationUrl,
    mqttUrl: meta.mqttUrl,
    gen,
    keyPem,
    certPem,
    caPem,
    serial: normSerial(cert.serialNumber),
    notBefore: new Date(cert.validFrom).getTime(),
    notAfter: new Date(cert.validTo).getTime(),
  };
}
