/**
 * Verifies an evidence package offline: every segment gets exactly one verdict from a fixed
 * taxonomy, with a one-sentence reason, and the package an overall verdict. Trust comes from a
 * CA certificate the caller supplies (`anchorCaPem`); without one the package's own CA is used
 * and the result says so (anyone can make a CA). Checks, in order of precedence per segment:
 * chain membership (spliced), entry integrity and file hash (modified), holes (missing),
 * position (reordered), then the signatures that reach the entry (foreign-certificate,
 * revoked-certificate, unsigned). Format: docs/ref/evidence-package.md.
 */
import type * as x509 from "@peculiar/x509";
import { certFingerprint, normSerial, parseCert, siteIdOfCert } from "../pki.ts";
import { readZip } from "../../lib/zip/index.ts";
import { linkOf, parseEntry, parseLines, parseSignature, revocationMessage, sha256Hex, signatureMessage, verifyText, type ChainEntry, type HeadSignature, type RevocationList } from "./format.ts";
import type { Manifest } from "./package.ts";

/** Most severe first: the overall verdict is the most severe segment verdict. */
export const VERDICTS = ["spliced", "modified", "missing", "reordered", "foreign-certificate", "revoked-certificate", "unsigned", "intact"] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface SegmentVerdict {
  seq: number | null;
  file: string | null;
  startMs: number | null;
  verdict: Verdict;
  why: string;
}

export interface PackageReport {
  overall: Verdict;
  why: string;
  segments: SegmentVerdict[];
  siteId: string;
  cameraId: string;
  stream: string;
  window: { fromMs: number; toMs: number };
  ca: { fingerprint: string; source: "anchor" | "package"; note?: string };
  revocations: string;
  footage: { file: string; sha256: string; matchesManifest: boolean } | null;
  /** ZIP entries whose CRC-32 no longer matches (damage in transit or by hand). */
  damagedEntries: string[];
}

export class PackageError extends Error {}

type SigStatus = { kind: "valid" | "revoked" | "foreign"; why: string };

const iso = (ms: number) => new Date(ms).toISOString();
const EC = { name: "ECDSA", namedCurve: "P-256" };

export async function verifyPackage(zipBytes: Uint8Array, opts: { anchorCaPem?: string } = {}): Promise<PackageReport> {
  let files: Map<string, Uint8Array>;
  let damaged: string[];
  try {
    ({ files, damaged } = readZip(zipBytes));
  } catch (e) {
    throw new PackageError(`not a readable evidence package: ${(e as Error).message}`);
  }
  const text = (name: string) => {
    const b = files.get(name);
    return b ? new TextDecoder().decode(b) : null;
  };
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text("manifest.json") ?? "null") as Manifest;
  } catch {
    throw new PackageError("manifest.json is not valid JSON");
  }
  if (!manifest || manifest.format !== "outpost-evidence/1" || !Array.isArray(manifest.segments)) throw new PackageError("manifest.json is missing or not an outpost-evidence/1 manifest");

  // Trust anchor.
  const pkgCaPem = text("certs/ca.pem");
  const caPem = opts.anchorCaPem ?? pkgCaPem;
  if (!caPem) throw new PackageError("no CA certificate: the package has no certs/ca.pem and none was given");
  const ca = parseCert(caPem);
  const caFp = await certFingerprint(ca);
  const caInfo: PackageReport["ca"] = { fingerprint: caFp, source: opts.anchorCaPem ? "anchor" : "package" };
  if (!opts.anchorCaPem) caInfo.note = "trusting the CA inside the package: compare its fingerprint with the one the operator publishes";
  else if (pkgCaPem && (await certFingerprint(pkgCaPem).catch(() => "")) !== caFp) caInfo.note = "the package carries a different CA certificate than the one given; only the given one is trusted";

  // Revocation list: only a list signed by the trusted CA counts.
  let revoked = new Map<string, number>();
  let revocations = "no revocation list in the package";
  try {
    const rl = JSON.parse(text("custody/revocations.json") ?? "null") as RevocationList | null;
    if (rl && Array.isArray(rl.revoked)) {
      const caKey = await ca.publicKey.export(EC, ["verify"]);
      if (rl.sig && (await verifyText(caKey, revocationMessage(rl), rl.sig))) {
        revoked = new Map(rl.revoked.map((r) => [normSerial(String(r.serial)), Number(r.revokedAtMs)]));
        revocations = `signed by the CA, as known at ${iso(rl.issuedAtMs)}: ${rl.revoked.length} revoked certificate(s)`;
      } else revocations = `not signed by the trusted CA (${rl.source ?? "unknown source"}); revocation status unknown`;
    }
  } catch {
    revocations = "custody/revocations.json is unreadable; revocation status unknown";
  }

  // Certificates and signatures.
  const certs = new Map<string, x509.X509Certificate>();
  for (const [name, data] of files) {
    const m = /^certs\/([0-9a-f]{64})\.pem$/.exec(name);
    if (!m) continue;
    try {
      const c = parseCert(new TextDecoder().decode(data));
      if ((await certFingerprint(c)) === m[1]) certs.set(m[1]!, c);
    } catch {
      // an unparsable certificate signs nothing
    }
  }
  const entries = parseLines(text("custody/chain.jsonl") ?? "", parseEntry).items;
  const sigs = parseLines(text("custody/signatures.jsonl") ?? "", parseSignature).items;
  const own = new Map<number, ChainEntry>();
  const foreignBySha = new Map<string, ChainEntry>();
  for (const e of entries) {
    if (e.chain !== manifest.chain) foreignBySha.set(e.sha256, e);
    else if (!own.has(e.seq)) own.set(e.seq, e);
  }
  const intactEntry = (e: ChainEntry) => linkOf(e) === e.link;

  const sigStatus = async (s: HeadSignature): Promise<SigStatus | null> => {
    const cert = certs.get(s.cert);
    if (!cert) return null;
    const key = await cert.publicKey.export(EC, ["verify"]).catch(() => null);
    if (!key || !(await verifyText(key, signatureMessage(s), s.sig))) return null;
    const serial = normSerial(cert.serialNumber);
    const issued = cert.issuer === ca.subject && (await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }).catch(() => false));
    if (!issued) return { kind: "foreign", why: `signed by certificate ${serial} (${cert.subject}), which was not issued by the trusted CA ${ca.subject}` };
    const site = siteIdOfCert(cert);
    if (site !== manifest.siteId) return { kind: "foreign", why: `signed by certificate ${serial} of site ${site ?? "?"}, not of site ${manifest.siteId} that recorded this stream` };
    if (s.signedAtMs < cert.notBefore.getTime() || s.signedAtMs > cert.notAfter.getTime()) return { kind: "foreign", why: `signed at ${iso(s.signedAtMs)}, outside the validity of certificate ${serial}` };
    const rev = revoked.get(serial);
    if (rev !== undefined && rev <= s.signedAtMs) return { kind: "revoked", why: `signed at ${iso(s.signedAtMs)} by certificate ${serial}, which was revoked at ${iso(rev)}, before the signature` };
    return { kind: "valid", why: `signed at ${iso(s.signedAtMs)} by site ${site}` };
  };

  // Which entries each signature reaches: its head, then back through unbroken prev links.
  const cover = new Map<number, SigStatus[]>();
  for (const s of sigs) {
    if (s.chain !== manifest.chain) continue;
    const st = await sigStatus(s);
    if (!st) continue;
    let e = own.get(s.seq);
    if (!e || e.link !== s.head || !intactEntry(e)) continue;
    for (;;) {
      const list = cover.get(e.seq) ?? [];
      list.push(st);
      cover.set(e.seq, list);
      const p = own.get(e.seq - 1);
      if (!p || p.link !== e.prev || !intactEntry(p)) break;
      e = p;
    }
  }

  // The seqs to judge: every entry overlapping the window and every segment the manifest lists.
  const { fromMs, toMs } = manifest.window ?? { fromMs: 0, toMs: 0 };
  const listed = new Map<number, Manifest["segments"][number]>();
  const unmapped: Manifest["segments"][number][] = [];
  for (const s of manifest.segments) {
    if (typeof s.seq === "number" && !listed.has(s.seq)) listed.set(s.seq, s);
    else unmapped.push(s);
  }
  const seqs = [...own.values()].filter((e) => e.startMs < toMs && e.endMs > fromMs).map((e) => e.seq);
  seqs.push(...listed.keys());
  const out: SegmentVerdict[] = [];
  if (seqs.length) {
    const lo = Math.min(...seqs);
    const hi = Math.max(...seqs);
    for (let seq = lo; seq <= hi; seq++) out.push(judge(seq));
  }
  for (const s of unmapped) out.push({ seq: null, file: s.file, startMs: s.startMs, verdict: "unsigned", why: "this segment has no entry in the custody chain" });

  function judge(seq: number): SegmentVerdict {
    const e = own.get(seq);
    const m = listed.get(seq);
    const data = m ? files.get(m.file) : undefined;
    const v = (verdict: Verdict, why: string): SegmentVerdict => ({ seq, file: m?.file ?? null, startMs: e?.startMs ?? m?.startMs ?? null, verdict, why });
    const hash = data ? sha256Hex(data) : null;
    const spliced = hash ? foreignBySha.get(hash) : undefined;
    if (spliced) return v("spliced", `the file is segment ${spliced.seq} of another chain (${spliced.chain}): footage of another camera or site was put in place of this one`);
    if (!e) {
      if (m) return v("missing", `the chain has no entry ${seq} for this file: the chain has a hole where entry ${seq} was removed`);
      return v("missing", `entry ${seq} is absent from the chain: a segment was removed (hole between entries ${seq - 1} and ${seq + 1})`);
    }
    if (!intactEntry(e)) return v("modified", `chain entry ${seq} was altered after signing: its link hash does not match its contents`);
    if (!m) return v("missing", `segment ${seq} (${iso(e.startMs)}) is in the chain within the exported window, but the package does not list its file`);
    if (!data) return v("missing", `segment ${seq} (${iso(e.startMs)}) is listed as ${m.file}, but that file is not in the package`);
    if (hash !== e.sha256) {
      for (const o of own.values()) if (o.sha256 === hash) return v("reordered", `the file at position ${seq} is segment ${o.seq} (${iso(o.startMs)}) by its SHA-256: segments were swapped or moved`);
      return v("modified", `the file's SHA-256 differs from the one chained at recording time: its content was changed`);
    }
    const c = cover.get(seq) ?? [];
    const ok = c.find((x) => x.kind === "valid");
    if (ok) return v("intact", `the file matches chain entry ${seq}, ${ok.why}`);
    const rev = c.find((x) => x.kind === "revoked");
    if (rev) return v("revoked-certificate", rev.why);
    const foreign = c.find((x) => x.kind === "foreign");
    if (foreign) return v("foreign-certificate", foreign.why);
    return v("unsigned", `no valid signature reaches chain entry ${seq}: the signature is missing or does not verify`);
  }

  let footage: PackageReport["footage"] = null;
  if (manifest.footage) {
    const b = files.get(manifest.footage.file);
    const sha = b ? sha256Hex(b) : "";
    footage = { file: manifest.footage.file, sha256: sha, matchesManifest: sha === manifest.footage.sha256 };
  }
  const worst = out.length ? VERDICTS.find((v) => out.some((s) => s.verdict === v))! : "missing";
  const bad = out.filter((s) => s.verdict !== "intact");
  const why = !out.length
    ? "the package holds no segments to verify"
    : worst === "intact"
      ? `all ${out.length} segment(s) are intact and signed by site ${manifest.siteId}`
      : `${bad.length} of ${out.length} segment(s) are not intact; the most severe: ${bad.find((s) => s.verdict === worst)!.why}`;
  return {
    overall: worst,
    why,
    segments: out,
    siteId: manifest.siteId,
    cameraId: manifest.cameraId,
    stream: manifest.stream,
    window: { fromMs, toMs },
    ca: caInfo,
    revocations,
    footage,
    damagedEntries: damaged,
  };
}
