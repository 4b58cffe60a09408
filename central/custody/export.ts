/**
 * Evidence packages of footage held at central. For segments central imported from an edge,
 * the package carries the edge's chain entries, signatures and certificates as central kept
 * them when it verified each upload (ImportVerifier.held); for segments central recorded
 * itself, central's own chain. The revocation list is signed with central's CA key, so the
 * verifier can judge "revoked before / after signing". Route: POST /api/v1/exports.
 */
import { readFile } from "node:fs/promises";
import type { Clock } from "../../lib/clock.ts";
import type { MediaStore, StreamKind } from "../../lib/store/index.ts";
import { buildPackage, collectCustody, sha256Hex, signedRevocations, type CustodyRecorder, type Manifest, type PackageSegment, type Revocation, type SidecarPoint } from "../../federation/custody/index.ts";
import { splitCentralCameraId } from "../../federation/protocol/index.ts";
import type { ImportVerifier } from "./index.ts";
import { CENTRAL_SITE_ID } from "./own.ts";
import { holdings } from "../holdings/index.ts";

export interface CentralEvidenceDeps {
  store: MediaStore;
  verifier: ImportVerifier;
  own: CustodyRecorder;
  caPem: string;
  caKey: CryptoKey;
  revoked: () => Revocation[];
  clock: Clock;
  /** A vehicle's kept track around a window (central/fleet), for the package's position sidecars. */
  track?: (siteId: string, fromMs: number, toMs: number) => Promise<SidecarPoint[]>;
}

export interface CentralEvidenceQuery {
  /** Central camera id `<site>.<camera>`. */
  cameraId: string;
  stream: StreamKind;
  fromMs: number;
  toMs: number;
  user: string;
  reason?: string;
  footagePath?: string;
}

export class NothingToExport extends Error {}

export async function centralEvidence(d: CentralEvidenceDeps, q: CentralEvidenceQuery): Promise<{ zip: Uint8Array; sha256: string; manifest: Manifest }> {
  const parts = splitCentralCameraId(q.cameraId);
  const now = d.clock.now();
  const held = (await holdings(d.store, q.cameraId, q.stream, q.fromMs, q.toMs)).closedIn(q.fromMs, q.toMs).filter((s) => s.sha256);
  if (!held.length) throw new NothingToExport(`Central holds no recording of ${q.cameraId} (${q.stream}) in this window.`);
  const base = {
    cameraId: q.cameraId,
    stream: q.stream,
    fromMs: q.fromMs,
    toMs: q.toMs,
    caPem: d.caPem,
    revocations: await signedRevocations(d.caKey, d.revoked(), now),
    audit: { exportedBy: q.user, exportedAtMs: now, exportedAt: "central", ...(q.reason ? { reason: q.reason } : {}), records: [{ action: "export", user: q.user, cameraId: q.cameraId, fromMs: q.fromMs, toMs: q.toMs, at: new Date(now).toISOString() }] },
    ...(q.footagePath ? { footage: new Uint8Array(await readFile(q.footagePath)) } : {}),
    createdAtMs: now,
  };
  // Imported from the edge: the edge's chain, as central kept it at import.
  const chain = parts ? await d.verifier.chainOf(parts.siteId, parts.cameraId, q.stream, held.map((s) => ({ startMs: s.startMs, sha256: s.sha256! }))) : null;
  if (parts && chain) {
    const track = d.track ? await d.track(parts.siteId, q.fromMs, q.toMs) : [];
    const kept = await d.verifier.held(parts.siteId, chain);
    const bySha = new Map(kept.entries.map((e) => [e.sha256, e]));
    const segments: PackageSegment[] = [];
    for (const s of held) {
      const e = bySha.get(s.sha256!);
      if (!e) continue; // recorded by central itself: not part of the edge's chain
      segments.push({ file: `segments/${e.startMs}.mp4`, seq: e.seq, startMs: e.startMs, endMs: e.endMs, bytes: s.bytes, sha256: s.sha256!, data: new Uint8Array(await readFile(d.store.absPath(s))) });
    }
    const seqs = segments.map((s) => s.seq!);
    const lo = Math.min(...seqs);
    const hi = Math.max(...seqs);
    const signedAt = kept.signatures.filter((s) => s.seq >= hi).map((s) => s.seq);
    const upTo = signedAt.length ? Math.min(...signedAt) : hi;
    const { zip, manifest } = buildPackage({
      ...base,
      siteId: parts.siteId,
      chain,
      segments,
      entries: kept.entries.filter((e) => e.seq >= lo && e.seq <= upTo),
      signatures: kept.signatures.filter((s) => s.seq >= lo && s.seq <= upTo),
      certs: kept.certs,
      ...(track.length ? { track } : {}),
    });
    return { zip, manifest, sha256: sha256Hex(zip) };
  }
  // Recorded by central itself.
  const ownChain = d.own.chainOf(q.cameraId, q.stream);
  const got = await collectCustody(d.store, ownChain, { cameraId: q.cameraId, stream: q.stream, fromMs: q.fromMs, toMs: q.toMs });
  const { zip, manifest } = buildPackage({ ...base, siteId: CENTRAL_SITE_ID, chain: ownChain, ...got });
  return { zip, manifest, sha256: sha256Hex(zip) };
}
