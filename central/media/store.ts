/**
 * CentralMedia: central's recordings as blobs (lib/blob: a directory every central node
 * mounts, S3 later) plus rows in PostgreSQL (segments.ts), so any node can commit a segment
 * and any node can play it back. The invariants are the edge's (docs/design/storage.md):
 *
 * - the blob is durable before its row commits (put resolves after fsync + rename);
 * - a blob without a row is garbage: an upload commit records its intent (intents.ts) before
 *   the put and deletes it with the row, so the blob of a commit a crash cut is deleted as soon
 *   as its node is dead (reapCutCommits); whatever else lacks a row goes after a grace period
 *   (sweep). Both run on the owner of the site's partition (central/cluster: MediaUpkeep);
 * - a row without a blob is reported by check(), never silently dropped.
 *
 * Exactly once: the row key (site, camera, stream, start) decides. Every write gets its own
 * blob key, so a second commit of the same segment (another node, an edge's resend after a
 * failover) with equal SHA-256 deletes only its own blob ("duplicate"). Different bytes at the
 * same start take the next free millisecond, as MediaStore.importSegment does, and come back
 * as "moved" for custody to judge (the existing conflict path).
 */
import type { BlobStore, TempBlob, TempSweep } from "../../lib/blob/index.ts";
import { systemClock, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { StoreInputError, describeSegmentFile, isCameraId, parseSegmentPath, segmentRelPath, type StreamKind } from "../../lib/store/index.ts";
import { centralCameraId } from "../../federation/protocol/index.ts";
import type { Database, Sql } from "../db/index.ts";
import { claimFreeStart } from "./free-start.ts";
import { CommitIntents, IntentTakenError } from "./intents.ts";
import { SAME_BYTES_WITHIN_MS, SegmentIndex, type MediaSegment } from "./segments.ts";

const SITE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** Default age before an unreferenced blob counts as garbage: far longer than any commit takes. */
export const DEFAULT_SWEEP_GRACE_MS = 15 * 60_000;

export interface CommitInput {
  siteId: string;
  /** The edge's camera id. */
  cameraId: string;
  stream: StreamKind;
  startMs: number;
  sha256: string;
  /** The whole segment file (fragmented MP4). */
  data: Uint8Array;
  /**
   * Runs in the transaction that inserts the row (only when this call inserts it): bookkeeping
   * that must commit with the row or not at all (the transfer receiver's commit log), so a node
   * killed between the two cannot leave a held segment the log never counted.
   */
  withRow?: (tx: Sql) => Promise<void>;
}

export type CommitResult =
  | { outcome: "committed"; record: MediaSegment }
  /** Already held with the same SHA-256: this write's blob was deleted. */
  | { outcome: "duplicate"; record: MediaSegment }
  /** Other bytes held at this start: committed at the next free millisecond (record.startMs). */
  | { outcome: "moved"; record: MediaSegment; heldSha256: string };

export interface CheckProblem {
  kind: "row-without-blob" | "size-mismatch";
  segment: MediaSegment;
  detail: string;
}

export interface MediaOptions {
  db: Database;
  blobs: BlobStore;
  clock?: Clock;
  log: Logger;
  /** This node's id (central/cluster): whose commits in flight the intents name. Default "local" (a lone process). */
  nodeId?: string;
  /** Test hook: runs after the blob is durable and before its row commits; throwing stops there, as a crash would. */
  afterBlobPut?: (key: string) => void | Promise<void>;
}

export class CentralMedia {
  readonly index: SegmentIndex;
  readonly blobs: BlobStore;
  /** Upload commits in flight (intents.ts): a cut commit's blob is reaped once its node is dead. */
  readonly intents: CommitIntents;
  private readonly clock: Clock;
  /** Real time this process began: a temp file of this node older than that is an earlier process's (tempJudge). */
  private readonly startedMs = Date.now();

  constructor(private readonly o: MediaOptions) {
    this.index = new SegmentIndex(o.db);
    this.blobs = o.blobs;
    this.clock = o.clock ?? systemClock;
    this.intents = new CommitIntents(o.db, o.nodeId ?? "local");
  }

  /** Blobs of one site share a prefix: the sweeper of that site lists only its own. */
  static sitePrefix(siteId: string): string {
    return `media/${siteId}.`;
  }

  async commit(c: CommitInput): Promise<CommitResult> {
    if (typeof c.siteId !== "string" || !SITE_ID.test(c.siteId)) throw new StoreInputError(`invalid site id ${JSON.stringify(c.siteId)}`);
    const cam = centralCameraId(c.siteId, c.cameraId);
    if (!isCameraId(c.cameraId) || !isCameraId(cam)) throw new StoreInputError(`invalid camera id ${JSON.stringify(c.cameraId)}`);
    if (c.stream !== "main" && c.stream !== "sub") throw new StoreInputError(`invalid stream ${JSON.stringify(c.stream)}: expected "main" or "sub"`);
    if (!Number.isSafeInteger(c.startMs) || c.startMs < 0) throw new StoreInputError("startMs must be a time in ms");
    if (!/^[0-9a-f]{64}$/.test(c.sha256)) throw new StoreInputError("sha256 must be 64 lower-case hex digits");
    const d = describeSegmentFile(segmentRelPath(cam, c.stream, c.startMs), c.data);
    if (!d.record || d.record.bytes !== c.data.length) throw new StoreInputError(`the file is not one whole playable segment (${d.record?.bytes ?? 0} of ${c.data.length} bytes playable)`);
    if (d.record.sha256 !== c.sha256) throw new StoreInputError(`SHA-256 mismatch: the file hashes to ${d.record.sha256}, expected ${c.sha256}`);
    const rec = d.record;
    const durationMs = rec.endMs - rec.startMs;

    // Cheap path for a resend: the row is there with these bytes, nothing to write.
    const held = await this.index.get(c.siteId, c.cameraId, c.stream, c.startMs);
    if (held?.sha256 === c.sha256) return { outcome: "duplicate", record: held };
    // The same bytes held under a start a few ms off (central recorded this very segment live): held once is enough.
    const alike = await this.index.sameBytesNear(c.siteId, c.cameraId, c.stream, c.startMs, c.sha256, SAME_BYTES_WITHIN_MS);
    if (alike) return { outcome: "duplicate", record: alike };

    // A fresh key per write: a duplicate deletes its own blob, never the one a row points at.
    const blobKey = `${CentralMedia.sitePrefix(c.siteId)}${c.cameraId}/${c.stream}/${segmentRelPath(cam, c.stream, c.startMs).split("/")[3]}/${c.startMs}-${crypto.randomUUID().slice(0, 8)}.mp4`;
    // The intent first: a crash after the put leaves a blob whose owner is known (intents.ts).
    await this.intents.record(blobKey, c.siteId, this.clock.now());
    try {
      await this.blobs.put(blobKey, c.data);
    } catch (e) {
      // No blob (or one a late failure left: it goes), then the intent (no reaper takes this live
      // process's own). Already gone: a reaper took this node for dead and may have removed the
      // put's temp file — the segment must be sent again; nothing was wrong with it.
      await this.deleteQuietly(blobKey);
      if (!(await this.intents.drop(blobKey))) throw new IntentTakenError(blobKey);
      throw e;
    }
    await this.o.afterBlobPut?.(blobKey);
    let heldSha: string | null = null;
    // The row commits with its intent taken (settle), or not at all: a reaper that took the intent deletes the blob.
    const withRow = async (tx: Sql) => {
      await this.intents.settle(tx, blobKey);
      await c.withRow?.(tx);
    };
    let result: CommitResult | undefined;
    try {
      result = await claimFreeStart(c.startMs, async (start): Promise<CommitResult | undefined> => {
        const row: MediaSegment = {
          ...rec,
          id: `${cam}/${c.stream}/${start}`,
          siteId: c.siteId,
          siteCameraId: c.cameraId,
          cameraId: cam,
          startMs: start,
          endMs: start + durationMs,
          path: blobKey,
          blobKey,
          sha256: c.sha256,
        };
        const r = await this.index.insert(row, d.frags, this.clock.now(), withRow);
        if (r.inserted) {
          this.o.log.info("segment committed", { segment: row.id, bytes: row.bytes, blob: blobKey });
          return heldSha === null ? { outcome: "committed", record: row } : { outcome: "moved", record: row, heldSha256: heldSha };
        }
        if (r.existing.sha256 === c.sha256) return { outcome: "duplicate", record: r.existing };
        heldSha ??= r.existing.sha256;
        return undefined;
      });
    } catch (e) {
      // Not a crash: the row did not commit, so the blob goes now (the sweeper would, later).
      await this.dropOwnBlob(blobKey);
      throw e;
    }
    if (result?.outcome === "committed" || result?.outcome === "moved") return result;
    await this.dropOwnBlob(blobKey);
    if (result) return result;
    throw new StoreInputError("no free start time for the segment within 1 s of its start");
  }

  /** Bytes of a held segment ([start, end) or whole); null when its blob is missing (check reports it). */
  read(seg: Pick<MediaSegment, "blobKey">, range?: { start: number; end?: number }): Promise<Uint8Array | null> {
    return this.blobs.get(seg.blobKey, range);
  }

  /** Deletes a held segment: row first (no reader finds it any more), then the blob; a crash in between leaves garbage the sweeper removes. */
  async delete(seg: MediaSegment): Promise<boolean> {
    const had = await this.index.delete(seg);
    await this.deleteQuietly(seg.blobKey);
    return had;
  }

  /**
   * Deletes the site's segment blobs no row points at that are older than `graceMs`: what the
   * intents cannot tell (a retention delete cut between row and blob, a commit whose intent was
   * dropped but not its blob). Each blob's intent, if any, is taken first, so a commit still in
   * flight after the grace fails its row instead of leaving a row without a blob.
   * Call it only for sites whose partition this node owns. Returns the keys deleted.
   */
  async sweep(siteId: string, graceMs = DEFAULT_SWEEP_GRACE_MS, nowMs = this.clock.now(), temps?: TempSweep): Promise<string[]> {
    const cutoff = nowMs - graceMs;
    const prefix = CentralMedia.sitePrefix(siteId);
    // Blobs listed before the rows are read: a blob committed in between is in the row set.
    // Files named as the store's writer names them (<start>.mp4) are the store's recovery's to
    // judge (a recording interrupted mid-segment is indexed, not deleted): only commit blobs here.
    const candidates: string[] = [];
    // The same walk removes the site's dead temp files when asked (`temps`): one listing per sweep.
    for await (const b of this.blobs.list(prefix, temps)) if (b.key.endsWith(".mp4") && !parseSegmentPath(b.key) && b.modifiedMs < cutoff) candidates.push(b.key);
    if (candidates.length === 0) return [];
    const keep = await this.index.blobKeys(siteId);
    const gone: string[] = [];
    for (const key of candidates) {
      if (keep.has(key)) continue;
      // Its intent taken, then its row looked for again: a commit that settled since the rows
      // were read keeps its blob; one that settles later finds its intent gone and fails.
      await this.intents.drop(key);
      if (await this.index.pointsAt(key)) continue;
      if (await this.blobs.delete(key)) gone.push(key);
    }
    if (gone.length) this.o.log.warn("blobs without a row swept (a commit that crashed between blob and row)", { site: siteId, count: gone.length });
    return gone;
  }

  /**
   * Deletes the blobs of upload commits a crash cut between blob and row, at once: those whose
   * intent names a node whose heartbeat is older than `deadBeforeMs` (of sites `owns` says are
   * this node's to clean) and this node's own from an earlier process (intents.ts). A live
   * node's commit in flight is never touched. Returns the keys deleted.
   */
  async reapCutCommits(owns: (siteId: string) => boolean, deadBeforeMs: number): Promise<string[]> {
    const gone: string[] = [];
    for (const i of await this.intents.cut(deadBeforeMs)) {
      if (!i.mine && !owns(i.siteId)) continue;
      if (!(await this.intents.take(i.blobKey, deadBeforeMs))) continue;
      await this.deleteQuietly(i.blobKey);
      gone.push(i.blobKey);
    }
    if (gone.length) this.o.log.warn("blobs of upload commits cut between blob and row deleted (their node is dead)", { count: gone.length });
    return gone;
  }

  /** The site's interrupted blob writes (temp files) `removable` (tempJudge) says no put can still finish. Returns how many. */
  async sweepTemps(siteId: string, removable: (t: TempBlob) => boolean): Promise<number> {
    return (await this.blobs.sweepTemp?.(CentralMedia.sitePrefix(siteId), removable)) ?? 0;
  }

  /**
   * Which temp files of blob puts no put can still finish, by their writer (the blob store's
   * `writer`: the node id) as central_nodes says now — whatever partitions anyone claimed:
   * - nothing written within `quietMs` (it may be a put in flight);
   * - this node's: only those older than this process (its own puts are its own to finish);
   * - another node's: when that node is unknown, its heartbeat is older than `quietMs` (dead to
   *   the cluster, as for intents) or the file is older than the node's current process (it
   *   restarted under the same id); a live node's put is never judged removable, however old;
   * - a temp naming nobody (a store without `writer`, an older version): older than `untaggedAfterMs`.
   */
  async tempJudge(o: { quietMs: number; untaggedAfterMs: number; nowMs?: number }): Promise<(t: TempBlob) => boolean> {
    const nowMs = o.nowMs ?? Date.now();
    const nodes = new Map(
      (await this.o.db.query<{ node_id: string; started_ms: number | string; heartbeat_ms: number | string }>(`SELECT node_id, started_ms, heartbeat_ms FROM central_nodes`)).map((r) => [r.node_id, { startedMs: Number(r.started_ms), heartbeatMs: Number(r.heartbeat_ms) }]),
    );
    return (t) => {
      const ageMs = nowMs - t.modifiedMs;
      if (ageMs <= o.quietMs) return false;
      if (t.writer === null) return ageMs > o.untaggedAfterMs;
      if (t.writer === this.intents.nodeId) return t.modifiedMs < this.startedMs;
      const n = nodes.get(t.writer);
      return !n || n.heartbeatMs < nowMs - o.quietMs || t.modifiedMs < n.startedMs;
    };
  }

  /** Rows whose blob is missing or has another size: reported, never dropped (an operator restores the blob or deletes the row). */
  async check(siteId?: string): Promise<CheckProblem[]> {
    const problems: CheckProblem[] = [];
    let after: MediaSegment | null = null;
    for (;;) {
      const page: MediaSegment[] = await this.index.page(siteId ?? null, after ? { siteId: after.siteId, cameraId: after.siteCameraId, stream: after.stream, startMs: after.startMs } : null, 500);
      for (const s of page) {
        const st = await this.blobs.stat(s.blobKey);
        if (!st) problems.push({ kind: "row-without-blob", segment: s, detail: `no blob ${s.blobKey} in ${this.blobs.location}` });
        else if (st.bytes !== s.bytes) problems.push({ kind: "size-mismatch", segment: s, detail: `blob ${s.blobKey} has ${st.bytes} bytes, the row ${s.bytes}` });
      }
      if (page.length < 500) break;
      after = page[page.length - 1]!;
    }
    for (const p of problems) this.o.log.error("segment row without its blob", { segment: p.segment.id, kind: p.kind, detail: p.detail });
    return problems;
  }

  /** A commit's own blob whose row did not commit: the blob, then its intent (a crash in between leaves an intent the reaper finds). */
  private async dropOwnBlob(key: string): Promise<void> {
    await this.deleteQuietly(key);
    await this.intents.drop(key).catch((e) => this.o.log.warn("commit intent not dropped; the reaper takes it", { err: e as Error, blob: key }));
  }

  private async deleteQuietly(key: string): Promise<void> {
    await this.blobs.delete(key).catch((e) => this.o.log.warn("blob not deleted; the sweeper removes it later", { err: e as Error, blob: key }));
  }
}
