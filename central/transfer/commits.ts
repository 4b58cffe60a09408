/**
 * The commit log (tr_commits): one row per segment central received, whatever node received it.
 * Its key (site, camera, stream, start) decides that a segment is committed exactly once: the
 * edge resends a segment whose acknowledgement it missed (central restarted, or the node that
 * took the upload died and another node took over), and that second insert conflicts. The
 * sha256 then says which case it is: the same bytes are a duplicate (not counted again); other
 * bytes under the same key are a conflict custody has to look at (central keeps both: the
 * store puts the second beside the first).
 */
import type { TransferClass } from "../../federation/transfer/index.ts";
import type { Sql } from "../db/index.ts";

export interface CommitRow {
  siteId: string;
  cameraId: string;
  stream: string;
  startMs: number;
  bytes: number;
  sha256: string;
  atMs: number;
  cls: TransferClass;
  link: string;
}

/** "new": this call committed it; "duplicate": already committed with the same sha256; "conflict": committed with another sha256 (`existing`). */
export type CommitOutcome = { kind: "new" } | { kind: "duplicate" } | { kind: "conflict"; existing: string };

export async function recordCommit(db: Pick<Sql, "run" | "query">, c: CommitRow): Promise<CommitOutcome> {
  const inserted = await db.run(`INSERT INTO tr_commits VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (site_id, camera_id, stream, start_ms) DO NOTHING`, [
    c.siteId,
    c.cameraId,
    c.stream,
    c.startMs,
    c.bytes,
    c.sha256,
    c.atMs,
    c.cls,
    c.link,
  ]);
  if (inserted) return { kind: "new" };
  const [row] = await db.query<{ sha256: string }>(`SELECT sha256 FROM tr_commits WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [c.siteId, c.cameraId, c.stream, c.startMs]);
  // No row after a conflict cannot happen (rows are never deleted); treat it as a duplicate rather than count twice.
  if (!row || row.sha256 === c.sha256) return { kind: "duplicate" };
  return { kind: "conflict", existing: row.sha256 };
}
