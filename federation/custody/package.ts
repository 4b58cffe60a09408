/**
 * Builds an evidence package: one store-only ZIP a person can hand over, holding the original
 * segment files, the excerpt of the stream's hash chain and its head signatures, the signing
 * certificates up to the CA, the revocation list as known at export, the audit excerpt of the
 * export, the position-track slot, a playable MP4 and a README. The layout and every field
 * are specified in docs/ref/evidence-package.md; federation/custody/verify.ts checks it.
 */
import { readFile } from "node:fs/promises";
import type { MediaStore } from "../../lib/store/index.ts";
import type { StreamKind } from "../../lib/store/types.ts";
import { writeZip, type ZipEntryIn } from "../../lib/zip/index.ts";
import { FORMAT, sha256Hex, type ChainEntry, type HeadSignature, type RevocationList } from "./format.ts";
import { readCert, readEntries, readSignatures } from "./journal.ts";
import { PACKAGE_README } from "./readme.ts";
import { toGpx, toWebVmt, type SidecarPoint } from "./track-sidecar.ts";

export const PACKAGE_FORMAT = "outpost-evidence/1";

export interface AuditExcerpt {
  exportedBy: string;
  exportedAtMs: number;
  /** "edge" or "central", and the site id the export ran on. */
  exportedAt: string;
  reason?: string;
  /** The audit-log record(s) of this export, as the exporting system wrote them. */
  records?: unknown[];
}

export interface PackageSegment {
  file: string;
  seq: number | null;
  startMs: number;
  endMs: number;
  bytes: number;
  sha256: string;
  data: Uint8Array;
}

export interface PackageInput {
  siteId: string;
  cameraId: string;
  stream: StreamKind;
  chain: string;
  fromMs: number;
  toMs: number;
  segments: PackageSegment[];
  entries: ChainEntry[];
  signatures: HeadSignature[];
  /** Signing certificates (PEM) by SHA-256 fingerprint. */
  certs: Map<string, string>;
  caPem: string;
  revocations: RevocationList;
  audit: AuditExcerpt;
  /** The playable MP4 of the window (remuxed from the segments), if one was made. */
  footage?: Uint8Array;
  /** The vehicle's kept track around the window (edge/position tuples); absent = no position source. */
  track?: SidecarPoint[];
  createdAtMs: number;
}

/** The manifest: what is in the package and what it claims (verify.ts checks every claim). */
export interface Manifest {
  format: typeof PACKAGE_FORMAT;
  custodyFormat: typeof FORMAT;
  createdAt: string;
  siteId: string;
  cameraId: string;
  stream: StreamKind;
  chain: string;
  window: { fromMs: number; toMs: number; from: string; to: string };
  segments: { file: string; seq: number | null; startMs: number; endMs: number; bytes: number; sha256: string }[];
  footage: { file: string; sha256: string; bytes: number; note: string } | null;
  position: { file: string; note: string; sidecars?: { file: string; format: "webvmt" | "gpx"; sha256: string }[] };
  files: Record<string, string>;
}

export function buildPackage(p: PackageInput): { zip: Uint8Array; manifest: Manifest } {
  const mtimeMs = p.createdAtMs;
  const files: ZipEntryIn[] = [];
  const add = (name: string, data: Uint8Array | string) => files.push({ name, data, mtimeMs });
  for (const s of p.segments) add(s.file, s.data);
  add("custody/chain.jsonl", p.entries.map((e) => JSON.stringify(e) + "\n").join(""));
  add("custody/signatures.jsonl", p.signatures.map((s) => JSON.stringify(s) + "\n").join(""));
  add("custody/revocations.json", JSON.stringify(p.revocations, null, 2) + "\n");
  add("certs/ca.pem", p.caPem);
  for (const [fp, pem] of p.certs) add(`certs/${fp}.pem`, pem);
  add("audit.json", JSON.stringify(p.audit, null, 2) + "\n");
  const track = p.track?.length ? p.track : null;
  const FIX = ["no-source", "no-fix", "2d", "3d"];
  add(
    "position.json",
    JSON.stringify(
      track
        ? { track: track.map(([t, m, lat, lon, speed, heading]) => ({ t, time: new Date(t).toISOString(), fix: FIX[m] ?? "no-source", lat, lon, speedMps: speed, headingDeg: heading })), note: "the vehicle's kept track (thinned within the edge's tolerance) around the window, on the recorder's clock" }
        : { track: null, note: "no position was recorded for this window (no position source, or none kept)" },
      null,
      2,
    ) + "\n",
  );
  // The same track as WebVMT (synchronised with footage.mp4) and GPX 1.1.
  const title = `${p.siteId} ${p.cameraId} (${p.stream})`;
  const sidecarMeta = { fromMs: p.fromMs, toMs: p.toMs, title, ...(p.footage ? { media: "footage.mp4" } : {}) };
  if (track) {
    add("position.vmt", toWebVmt(track, sidecarMeta));
    add("position.gpx", toGpx(track, sidecarMeta));
  }
  if (p.footage) add("footage.mp4", p.footage);
  const hashes: Record<string, string> = {};
  for (const f of files) hashes[f.name] = sha256Hex(typeof f.data === "string" ? new TextEncoder().encode(f.data) : f.data);
  const manifest: Manifest = {
    format: PACKAGE_FORMAT,
    custodyFormat: FORMAT,
    createdAt: new Date(p.createdAtMs).toISOString(),
    siteId: p.siteId,
    cameraId: p.cameraId,
    stream: p.stream,
    chain: p.chain,
    window: { fromMs: p.fromMs, toMs: p.toMs, from: new Date(p.fromMs).toISOString(), to: new Date(p.toMs).toISOString() },
    segments: p.segments.map(({ data: _d, ...s }) => s),
    footage: p.footage
      ? { file: "footage.mp4", sha256: hashes["footage.mp4"]!, bytes: p.footage.length, note: "remuxed (stream copy) from the segments for convenience; the signatures cover the segment files, not this file" }
      : null,
    position: track
      ? {
          file: "position.json",
          note: `${track.length} kept points; position.vmt (WebVMT, cue times from the window start) and position.gpx (GPX 1.1) carry the same track`,
          sidecars: [
            { file: "position.vmt", format: "webvmt", sha256: hashes["position.vmt"]! },
            { file: "position.gpx", format: "gpx", sha256: hashes["position.gpx"]! },
          ],
        }
      : { file: "position.json", note: "empty: no position was recorded for this window" },
    files: hashes,
  };
  const zip = writeZip([{ name: "README.txt", data: PACKAGE_README, mtimeMs }, { name: "manifest.json", data: JSON.stringify(manifest, null, 2) + "\n", mtimeMs }, ...files]);
  return { zip, manifest };
}

/**
 * Gathers what a package needs from a store and its custody files: the window's segment
 * files, the chain entries from the first of them up to the first signed head at or after the
 * last (so every included entry can be checked against a signature), those signatures and
 * the certificates that made them.
 */
export async function collectCustody(
  store: MediaStore,
  custodyChain: string,
  q: { cameraId: string; stream: StreamKind; fromMs: number; toMs: number },
): Promise<Pick<PackageInput, "segments" | "entries" | "signatures" | "certs">> {
  const records = (await store.segments(q)).filter((s) => !s.open && s.sha256);
  const all = (await readEntries(store.root, q.cameraId, q.stream)).filter((e) => e.chain === custodyChain);
  const sigs = (await readSignatures(store.root, q.cameraId, q.stream)).filter((s) => s.chain === custodyChain);
  const bySha = new Map(all.map((e) => [`${e.startMs}:${e.sha256}`, e]));
  const segments: PackageSegment[] = [];
  for (const r of records) {
    const e = bySha.get(`${r.startMs}:${r.sha256}`);
    segments.push({ file: `segments/${r.startMs}.mp4`, seq: e?.seq ?? null, startMs: r.startMs, endMs: r.endMs, bytes: r.bytes, sha256: r.sha256!, data: new Uint8Array(await readFile(store.absPath(r))) });
  }
  // Chain entries overlapping the window (even if their file is gone: that is a hole to show).
  const inWindow = all.filter((e) => e.startMs < q.toMs && e.endMs > q.fromMs);
  const seqs = [...inWindow.map((e) => e.seq), ...segments.flatMap((s) => (s.seq === null ? [] : [s.seq]))];
  if (!seqs.length) return { segments, entries: [], signatures: [], certs: new Map() };
  const first = Math.min(...seqs);
  const last = Math.max(...seqs);
  const signedAt = sigs.filter((s) => s.seq >= last).map((s) => s.seq);
  const upTo = signedAt.length ? Math.min(...signedAt) : last;
  const entries = all.filter((e) => e.seq >= first && e.seq <= upTo);
  const signatures = sigs.filter((s) => s.seq >= first && s.seq <= upTo);
  const certs = new Map<string, string>();
  for (const s of signatures) {
    if (certs.has(s.cert)) continue;
    const pem = await readCert(store.root, s.cert);
    if (pem) certs.set(s.cert, pem);
  }
  return { segments, entries, signatures, certs };
}
