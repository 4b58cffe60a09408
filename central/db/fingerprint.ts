/**
 * A table's fingerprint: one row that moves when any of its rows is inserted, updated or
 * deleted (practically always: see below) — the row count and the sum of the rows' xmin (the id of the transaction that wrote
 * each row version: an INSERT or UPDATE adds a row version with its transaction's id, a DELETE
 * or UPDATE takes one away). Same answer on PGlite and on a server. A node that keeps a table
 * in memory and follows other nodes' writes by NOTIFY asks this at its periodic safety-net
 * re-read and reads the rows only when it moved: re-reading a fleet's rows every heartbeat on
 * every node cost each node O(fleet) whatever its share (bench/controlplane.bench.ts --part cluster).
 *
 * False alarms are possible, a missed change practically never: the fingerprint stands still
 * across a change only when the row versions written since the last read and those removed
 * since have the same count and the same sum of xmin. Transaction ids are handed out in order,
 * so that takes transactions committing out of id order (a long transaction's write landing
 * after a newer one's delete) in a combination whose ids balance exactly, or a transaction-id
 * wraparound (billions of transactions) — short of those, every change moves it. A VACUUM
 * FREEZE keeps the raw xmin this reads. What it would miss is a change whose NOTIFY was lost
 * too, until a later change of the table moves the fingerprint.
 */
import type { Database } from "./sql.ts";

/** The tables followed this way; each query a code constant (no identifier reaches SQL from a value). */
const FINGERPRINT = {
  sites: `SELECT count(*)::int AS n, sum(xmin::text::bigint)::text AS x FROM sites`,
  cp_cameras: `SELECT count(*)::int AS n, sum(xmin::text::bigint)::text AS x FROM cp_cameras`,
  tr_offload: `SELECT count(*)::int AS n, sum(xmin::text::bigint)::text AS x FROM tr_offload`,
} as const;

export async function tableFingerprint(db: Pick<Database, "query">, table: keyof typeof FINGERPRINT): Promise<string> {
  const [r] = await db.query<{ n: number | string; x: string | null }>(FINGERPRINT[table]);
  return `${r?.n ?? 0}/${r?.x ?? ""}`;
}
