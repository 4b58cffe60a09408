/**
 * The custody format itself: what a chain entry, a head signature and a revocation list are,
 * and the exact bytes that are hashed or signed. Both the recorder (edge, central) and the
 * verifier (`outpost verify`) use these functions and nothing else, so the spec in
 * docs/ref/evidence-package.md and this file cannot drift apart. Pure: no disk, no clock.
 */
import { createHash } from "node:crypto";

export const FORMAT = "outpost-custody/1";
export const GENESIS = "0".repeat(64);

/** One committed segment in a stream's hash chain. */
export interface ChainEntry {
  /** `${custodyId}:${cameraId}/${stream}` — custodyId is random per store, so two sites never share a chain id. */
  chain: string;
  /** 0, 1, 2, … without holes. */
  seq: number;
  startMs: number;
  endMs: number;
  bytes: number;
  /** SHA-256 hex of the segment file. */
  sha256: string;
  /** `link` of the previous entry (GENESIS for seq 0). */
  prev: string;
  /** SHA-256 hex of linkMessage(this entry). */
  link: string;
}

/** A signature over a chain head: "entry `seq` of `chain` has link `head`", at `signedAtMs`. */
export interface HeadSignature {
  chain: string;
  seq: number;
  head: string;
  signedAtMs: number;
  /** SHA-256 hex of the signing certificate's DER. */
  cert: string;
  /** ECDSA P-256 / SHA-256, IEEE P1363 (r‖s, 64 bytes), base64. */
  sig: string;
}

export interface Revocation {
  /** Certificate serial, lower-case hex without leading zeros. */
  serial: string;
  revokedAtMs: number;
  reason?: string;
}

/** The revocation list as known when a package was made; signed by the CA when made at central. */
export interface RevocationList {
  issuedAtMs: number;
  revoked: Revocation[];
  /** base64 P1363 signature of revocationMessage() by the CA key; absent when the exporter had none (edge). */
  sig?: string;
  /** Who produced the list, in words ("central CA", "edge: no revocation information"). */
  source: string;
}

export function linkMessage(e: Omit<ChainEntry, "link">): string {
  return `outpost-custody-link/1\n${e.chain}\n${e.seq}\n${e.startMs}\n${e.endMs}\n${e.bytes}\n${e.sha256}\n${e.prev}\n`;
}

export function linkOf(e: Omit<ChainEntry, "link">): string {
  return sha256Hex(linkMessage(e));
}

export function signatureMessage(s: Pick<HeadSignature, "chain" | "seq" | "head" | "signedAtMs">): string {
  return `outpost-custody-head/1\n${s.chain}\n${s.seq}\n${s.head}\n${s.signedAtMs}\n`;
}

export function revocationMessage(l: Pick<RevocationList, "issuedAtMs" | "revoked">): string {
  const lines = [...l.revoked].sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : a.revokedAtMs - b.revokedAtMs)).map((r) => `${r.serial} ${r.revokedAtMs}\n`);
  return `outpost-custody-revocations/1\n${l.issuedAtMs}\n${lines.join("")}`;
}

export function chainId(custodyId: string, cameraId: string, stream: string): string {
  return `${custodyId}:${cameraId}/${stream}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const SIGN: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

export async function signText(key: CryptoKey, text: string): Promise<string> {
  return Buffer.from(await crypto.subtle.sign(SIGN, key, new TextEncoder().encode(text))).toString("base64");
}

export async function verifyText(publicKey: CryptoKey, text: string, sigB64: string): Promise<boolean> {
  try {
    const sig = Buffer.from(sigB64, "base64");
    if (sig.length !== 64) return false;
    return await crypto.subtle.verify(SIGN, publicKey, sig, new TextEncoder().encode(text));
  } catch {
    return false;
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Parses one JSON line into a ChainEntry, or null when it is not one (a torn tail, garbage). */
export function parseEntry(x: unknown): ChainEntry | null {
  const e = x as ChainEntry;
  if (!e || typeof e !== "object") return null;
  if (typeof e.chain !== "string" || !Number.isSafeInteger(e.seq) || e.seq < 0) return null;
  if (!Number.isSafeInteger(e.startMs) || !Number.isSafeInteger(e.endMs) || !Number.isSafeInteger(e.bytes)) return null;
  if (![e.sha256, e.prev, e.link].every((h) => typeof h === "string" && HEX64.test(h))) return null;
  return { chain: e.chain, seq: e.seq, startMs: e.startMs, endMs: e.endMs, bytes: e.bytes, sha256: e.sha256, prev: e.prev, link: e.link };
}

export function parseSignature(x: unknown): HeadSignature | null {
  const s = x as HeadSignature;
  if (!s || typeof s !== "object") return null;
  if (typeof s.chain !== "string" || !Number.isSafeInteger(s.seq) || !Number.isSafeInteger(s.signedAtMs)) return null;
  if (typeof s.head !== "string" || !HEX64.test(s.head) || typeof s.cert !== "string" || !HEX64.test(s.cert) || typeof s.sig !== "string") return null;
  return { chain: s.chain, seq: s.seq, head: s.head, signedAtMs: s.signedAtMs, cert: s.cert, sig: s.sig };
}

/** JSON Lines → parsed records; unparsable lines (a torn last line after a crash) are skipped and counted. */
export function parseLines<T>(text: string, parse: (x: unknown) => T | null): { items: T[]; bad: number } {
  const items: T[] = [];
  let bad = 0;
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let v: T | null = null;
    try {
      v = parse(JSON.parse(line));
    } catch {
      v = null;
    }
    if (v) items.push(v);
    else bad++;
  }
  return { items, bad };
}
