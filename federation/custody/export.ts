/**
 * One call from "this window of this stream" to the evidence package bytes: what the edge and
 * central export endpoints run once the MP4 of an export job is done.
 */
import { readFile } from "node:fs/promises";
import type { MediaStore } from "../../lib/store/index.ts";
import type { StreamKind } from "../../lib/store/types.ts";
import { sha256Hex, type RevocationList } from "./format.ts";
import { buildPackage, collectCustody, type AuditExcerpt, type Manifest } from "./package.ts";
import type { CustodyRecorder } from "./recorder.ts";
import type { SidecarPoint } from "./track-sidecar.ts";

export interface EvidenceRequest {
  store: MediaStore;
  custody: CustodyRecorder;
  siteId: string;
  caPem: string;
  revocations: RevocationList;
  cameraId: string;
  stream: StreamKind;
  fromMs: number;
  toMs: number;
  /** The export job's finished MP4, if any. */
  footagePath?: string;
  audit: AuditExcerpt;
  /** The vehicle's kept track around the window (position sidecars), if the edge has a position source. */
  track?: SidecarPoint[];
  nowMs: number;
}

export async function evidencePackage(r: EvidenceRequest): Promise<{ zip: Uint8Array; manifest: Manifest; sha256: string }> {
  const chain = r.custody.chainOf(r.cameraId, r.stream);
  await r.custody.idle();
  const got = await collectCustody(r.store, chain, { cameraId: r.cameraId, stream: r.stream, fromMs: r.fromMs, toMs: r.toMs });
  const footage = r.footagePath ? new Uint8Array(await readFile(r.footagePath)) : undefined;
  const { zip, manifest } = buildPackage({
    siteId: r.siteId,
    cameraId: r.cameraId,
    stream: r.stream,
    chain,
    fromMs: r.fromMs,
    toMs: r.toMs,
    ...got,
    caPem: r.caPem,
    revocations: r.revocations,
    audit: r.audit,
    ...(footage ? { footage } : {}),
    ...(r.track ? { track: r.track } : {}),
    createdAtMs: r.nowMs,
  });
  return { zip, manifest, sha256: sha256Hex(zip) };
}
