/**
 * Update metadata in the spirit of The Update Framework (TUF), written for Outpost:
 *
 * - root: the update keys (Ed25519, WebCrypto) and who may sign what (root, targets), with
 *   thresholds, an expiry and a version. A new root must be signed by a threshold of the old
 *   root's keys AND of its own (TUF §5.3.4), so rotation is a chain root 1 → 2 → … the edge
 *   walks from the root it pins.
 * - targets: one release — its version, the minimum version it may update from, the bundle's
 *   SHA-256 and length, and every file inside with SHA-256 and length. Signing everything in one
 *   document is what defeats mix-and-match; the expiry defeats freeze; the monotonically
 *   increasing metadata version (and the release version) defeat rollback.
 *
 * The update keys are not the federation CA: a stolen CA key must not be enough to ship code.
 * Signatures cover canonical JSON (sorted keys, no whitespace) of `signed`.
 */
import { z } from "zod";
import { sha256Hex } from "./fsutil.ts";

export class UpdateError extends Error {
  constructor(
    readonly code:
      | "bad-signature"
      | "threshold"
      | "expired"
      | "rollback"
      | "bad-metadata"
      | "hash-mismatch"
      | "length-mismatch"
      | "too-long"
      | "min-version"
      | "not-found"
      | "io",
    message: string,
  ) {
    super(message);
    this.name = "UpdateError";
  }
}

export function canonical(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(",")}}`;
}

const b64 = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

// ---------- keys

export const PublicKey = z.object({ alg: z.literal("ed25519"), public: z.string().min(40).max(100) });
export type PublicKey = z.infer<typeof PublicKey>;

/** A private update key as stored on the signing machine (never on central or an edge). */
export const PrivateKeyFile = z.object({ alg: z.literal("ed25519"), keyid: z.string(), public: z.string(), pkcs8: z.string() });
export type PrivateKeyFile = z.infer<typeof PrivateKeyFile>;

export const keyId = (k: PublicKey) => sha256Hex(canonical(k));

export async function generateKey(): Promise<PrivateKeyFile> {
  const kp = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const pub: PublicKey = { alg: "ed25519", public: b64(await crypto.subtle.exportKey("raw", kp.publicKey)) };
  return { ...pub, keyid: keyId(pub), pkcs8: b64(await crypto.subtle.exportKey("pkcs8", kp.privateKey)) };
}

export const publicOf = (k: PrivateKeyFile): PublicKey => ({ alg: k.alg, public: k.public });

// ---------- metadata

const RoleKeys = z.object({ keyids: z.array(z.string()).min(1), threshold: z.number().int().min(1) });
const Iso = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "not an ISO time");

export const RootSigned = z.object({
  _type: z.literal("root"),
  version: z.number().int().min(1),
  expires: Iso,
  keys: z.record(z.string(), PublicKey),
  roles: z.object({ root: RoleKeys, targets: RoleKeys }),
});
export type RootSigned = z.infer<typeof RootSigned>;

export const FileEntry = z.object({ length: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/), mode: z.number().int().optional() });
export type FileEntry = z.infer<typeof FileEntry>;

export const TargetsSigned = z.object({
  _type: z.literal("targets"),
  /** Metadata version: strictly increasing over all releases (rollback protection). */
  version: z.number().int().min(1),
  expires: Iso,
  release: z.object({
    version: z.string().regex(/^\d+\.\d+\.\d+$/, "release version must be MAJOR.MINOR.PATCH"),
    minFromVersion: z.string().regex(/^\d+\.\d+\.\d+$/),
    builtAt: Iso,
  }),
  /** The bundle file as transported. */
  bundle: z.object({ name: z.string(), length: z.number().int().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  /** Every file inside the bundle (what a slot holds). */
  files: z.record(z.string(), FileEntry),
});
export type TargetsSigned = z.infer<typeof TargetsSigned>;

export const Signature = z.object({ keyid: z.string(), sig: z.string() });
export const Envelope = <T extends z.ZodTypeAny>(s: T) => z.object({ signed: s, signatures: z.array(Signature).max(32) });
export const RootEnvelope = Envelope(RootSigned);
export const TargetsEnvelope = Envelope(TargetsSigned);
export type Signed<T> = { signed: T; signatures: { keyid: string; sig: string }[] };
export type RootMeta = Signed<RootSigned>;
export type TargetsMeta = Signed<TargetsSigned>;

export async function sign<T>(signed: T, keys: PrivateKeyFile[]): Promise<Signed<T>> {
  const data = new TextEncoder().encode(canonical(signed));
  const signatures = [];
  for (const k of keys) {
    const priv = await crypto.subtle.importKey("pkcs8", unb64(k.pkcs8), { name: "Ed25519" }, false, ["sign"]);
    signatures.push({ keyid: k.keyid, sig: b64(await crypto.subtle.sign("Ed25519", priv, data)) });
  }
  return { signed, signatures };
}

/** Counts distinct valid signatures by `role`'s keys of `root`; throws below the threshold. */
export async function verifyRole(env: Signed<unknown>, root: RootSigned, role: "root" | "targets", what: string): Promise<void> {
  const r = root.roles[role];
  const data = new TextEncoder().encode(canonical(env.signed));
  const good = new Set<string>();
  let bad = 0;
  for (const s of env.signatures) {
    if (!r.keyids.includes(s.keyid) || good.has(s.keyid)) continue;
    const pk = root.keys[s.keyid];
    if (!pk || keyId(pk) !== s.keyid) continue;
    let ok = false;
    try {
      const pub = await crypto.subtle.importKey("raw", unb64(pk.public), { name: "Ed25519" }, false, ["verify"]);
      ok = await crypto.subtle.verify("Ed25519", pub, unb64(s.sig), data);
    } catch {
      ok = false;
    }
    if (ok) good.add(s.keyid);
    else bad++;
  }
  if (good.size < r.threshold) {
    const why = bad > 0 ? "bad-signature" : "threshold";
    throw new UpdateError(why, `${what}: ${good.size} valid ${role} signature(s), ${r.threshold} needed${bad ? ` (${bad} invalid)` : " (signed by a key this edge does not trust)"}`);
  }
}

function parse<T>(schema: z.ZodType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new UpdateError("bad-metadata", `${what} is malformed: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

export const parseRoot = (v: unknown) => parse(RootEnvelope, v, "root metadata") as RootMeta;
export const parseTargets = (v: unknown) => parse(TargetsEnvelope, v, "targets metadata") as TargetsMeta;

/** Self-signed first root (version 1) — what edges pin at manufacture. */
export async function createRoot(o: { rootKeys: PrivateKeyFile[]; targetsKeys: PrivateKeyFile[]; expires: string; version?: number; threshold?: number }): Promise<RootMeta> {
  const keys: Record<string, PublicKey> = {};
  for (const k of [...o.rootKeys, ...o.targetsKeys]) keys[k.keyid] = publicOf(k);
  const signed: RootSigned = {
    _type: "root",
    version: o.version ?? 1,
    expires: o.expires,
    keys,
    roles: {
      root: { keyids: o.rootKeys.map((k) => k.keyid), threshold: o.threshold ?? 1 },
      targets: { keyids: o.targetsKeys.map((k) => k.keyid), threshold: o.threshold ?? 1 },
    },
  };
  return sign(signed, o.rootKeys);
}

/** Root N+1, signed by the old root keys and the new ones (rotation). */
export async function rotateRoot(old: RootMeta, o: { oldRootKeys: PrivateKeyFile[]; rootKeys: PrivateKeyFile[]; targetsKeys: PrivateKeyFile[]; expires: string }): Promise<RootMeta> {
  const next = await createRoot({ rootKeys: o.rootKeys, targetsKeys: o.targetsKeys, expires: o.expires, version: old.signed.version + 1 });
  const byOld = await sign(next.signed, o.oldRootKeys.filter((k) => !o.rootKeys.some((n) => n.keyid === k.keyid)));
  return { signed: next.signed, signatures: [...next.signatures, ...byOld.signatures] };
}

/**
 * TUF §5.3: accept `next` as the successor of `trusted` — signed by the trusted root's keys and
 * by its own, version exactly +1. Expiry is checked on the final root only (an old root in the
 * chain may have expired; that is the point of rotating).
 */
export async function verifyNextRoot(trusted: RootSigned, nextRaw: unknown): Promise<RootMeta> {
  const next = parseRoot(nextRaw);
  await verifyRole(next, trusted, "root", `root v${next.signed.version} (by old root v${trusted.version})`);
  await verifyRole(next, next.signed, "root", `root v${next.signed.version} (by itself)`);
  if (next.signed.version !== trusted.version + 1) throw new UpdateError("rollback", `root version ${next.signed.version} does not follow trusted root version ${trusted.version}`);
  return next;
}

export function checkExpiry(what: string, expires: string, now: number): void {
  if (Date.parse(expires) <= now) throw new UpdateError("expired", `${what} expired at ${expires} (freeze attack or stale mirror)`);
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface TrustContext {
  root: RootSigned;
  now: number;
  /** Highest targets metadata version this edge has ever accepted. */
  lastTargetsVersion: number;
  /** Release version running now. */
  currentRelease: string | null;
}

/** Full check of one release's targets metadata against what this edge trusts. */
export async function verifyTargets(raw: unknown, t: TrustContext, opts: { forInstall: boolean }): Promise<TargetsMeta> {
  const env = parseTargets(raw);
  await verifyRole(env, t.root, "targets", `targets v${env.signed.version}`);
  checkExpiry(`root v${t.root.version}`, t.root.expires, t.now);
  checkExpiry(`targets v${env.signed.version}`, env.signed.expires, t.now);
  if (!opts.forInstall) return env;
  if (env.signed.version <= t.lastTargetsVersion)
    throw new UpdateError("rollback", `targets metadata version ${env.signed.version} is not newer than the trusted version ${t.lastTargetsVersion} (rollback attack)`);
  if (t.currentRelease) {
    if (compareVersions(env.signed.release.version, t.currentRelease) <= 0)
      throw new UpdateError("rollback", `release ${env.signed.release.version} is not newer than the running ${t.currentRelease} (rollback attack)`);
    if (compareVersions(t.currentRelease, env.signed.release.minFromVersion) < 0)
      throw new UpdateError("min-version", `release ${env.signed.release.version} needs at least ${env.signed.release.minFromVersion}; this edge runs ${t.currentRelease}`);
  }
  return env;
}
