/**
 * A table's fingerprint: one row that moves whenever any of its rows is inserted, updated or
 * deleted — the row count and the sum of the rows' xmin (the id of the transaction that wrote
 * each row version: every INSERT and UPDATE gives the row a newer one than any existing, so an
 * insert raises the sum by more than any delete in the same or an earlier transaction lowers
 * it). Same answer on PGlite and on a server. A node that keeps a table in memory and follows
 * other nodes' writes by NOTIFY asks this at its periodic safety-net re-read and reads the rows
 * only when it moved: re-reading a fleet's rows every heartbeat on every node cost each node
 * O(fleet) whatever its share (bench/controlplane.bench.ts --part cluster).
 *
 * False alarms only, never a missed change (short of transaction-id wraparound, which takes
 * billions of transactions): a VACUUM FREEZE keeps the raw xmin this reads.
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
