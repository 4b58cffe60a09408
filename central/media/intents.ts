/**
 * Upload commits in flight, one row each (media_intents, migration 0014), so the blob of a
 * commit a crash cut between blob and row goes as soon as its node is known dead, not a sweep
 * grace later (docs/design/central-cluster.md, "Recordings on shared storage").
 *
 * An upload may be committed on any node (the edge reaches whichever node its connection
 * lands on; upload commits are not partition-fenced), so a site's partition claim says nothing
 * about which of its blobs are in flight: a live non-owner's commit looks the same as a dead
 * owner's. The intent row says whose each one is:
 *
 * - `record` before the blob put; `settle` deletes it in the transaction that inserts the
 *   segment row and throws when it is gone, so the row commits only if no reaper took it;
 *   `drop` after the commit deleted its own blob (duplicate, failure, a put that failed — when
 *   the row was gone already, a reaper took it: IntentTakenError too).
 * - A row is **cut** when its node's heartbeat (central_nodes) is older than the lease — that
 *   node is dead to the cluster — or when it is this node's own from an earlier process (a
 *   restart within the lease never looks dead). `take` deletes a cut row atomically, rechecked;
 *   only the caller that took it deletes the blob. A paused node taken for dead that wakes up
 *   finds its row gone: its row commit fails (IntentTakenError) and it deletes its own blob,
 *   whether its put finished before or after the reaper's delete.
 */
import type { Database, Sql } from "../db/index.ts";

/** The commit's intent was taken by a reaper (this node was taken for dead): its blob is, or is about to be, deleted. */
export class IntentTakenError extends Error {
  constructor(readonly blobKey: string) {
    super(`the commit of ${blobKey} was taken for cut (this node's heartbeat lapsed): its blob is deleted and the segment must be sent again`);
  }
}

export interface CutIntent {
  blobKey: string;
  siteId: string;
  /** This node's own, from an earlier process. */
  mine: boolean;
}

/**
 * What makes the intent row `i` cut, the one definition cut() lists by and take() re-checks in
 * its delete: $1 this node's id, $2 this process's incarnation, $3 the heartbeat time before
 * which a node is dead. A code constant over placeholders (tests/no-sql-literals.test.ts).
 */
const CUT_INTENT = `((i.node_id = $1 AND i.incarnation <> $2)
  OR (i.node_id <> $1 AND EXISTS (SELECT 1 FROM central_nodes n WHERE n.node_id = i.node_id AND n.heartbeat_ms < $3)))`;

export class CommitIntents {
  constructor(
    private readonly db: Database,
    readonly nodeId: string,
    /** One per process: what an earlier process of this node left is told from what this one has in flight. */
    readonly incarnation: string = crypto.randomUUID(),
  ) {}

  async record(blobKey: string, siteId: string, nowMs: number): Promise<void> {
    await this.db.run(`INSERT INTO media_intents (blob_key, site_id, node_id, incarnation, created_ms) VALUES ($1, $2, $3, $4, $5)`, [blobKey, siteId, this.nodeId, this.incarnation, nowMs]);
  }

  /** In the segment row's transaction: the row may commit only while the intent is still there. */
  async settle(tx: Sql, blobKey: string): Promise<void> {
    if ((await tx.run(`DELETE FROM media_intents WHERE blob_key = $1`, [blobKey])) !== 1) throw new IntentTakenError(blobKey);
  }

  /** The commit deleted its own blob (or the sweep is about to): the intent goes. False: it was gone already (taken). */
  async drop(blobKey: string): Promise<boolean> {
    return (await this.db.run(`DELETE FROM media_intents WHERE blob_key = $1`, [blobKey])) === 1;
  }

  /** Intents of cut commits: of nodes whose heartbeat is older than `deadBeforeMs`, or this node's from an earlier process. */
  async cut(deadBeforeMs: number): Promise<CutIntent[]> {
    const rows = await this.db.query<{ blob_key: string; site_id: string; node_id: string }>(
      `SELECT i.blob_key, i.site_id, i.node_id FROM media_intents i WHERE ${CUT_INTENT} ORDER BY i.blob_key`,
      [this.nodeId, this.incarnation, deadBeforeMs],
    );
    return rows.map((r) => ({ blobKey: r.blob_key, siteId: r.site_id, mine: r.node_id === this.nodeId }));
  }

  /** Takes a cut intent, the judgement repeated in the delete (its node may have come back); true: the caller deletes the blob. */
  async take(blobKey: string, deadBeforeMs: number): Promise<boolean> {
    const n = await this.db.run(
      `DELETE FROM media_intents i WHERE i.blob_key = $4 AND ${CUT_INTENT}
         AND NOT EXISTS (SELECT 1 FROM media_segments s WHERE s.blob_key = i.blob_key)`,
      [this.nodeId, this.incarnation, deadBeforeMs, blobKey],
    );
    return n === 1;
  }
}
