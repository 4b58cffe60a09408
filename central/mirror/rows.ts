/**
 * The mirror's write side in PostgreSQL (central/db migration 0005): how a control-plane batch
 * stores its rows — one statement per table per batch, whatever the number of rows (the rows
 * travel as one jsonb parameter and jsonb_to_recordset unpacks them, so no statement nears
 * PostgreSQL's parameter limit and PGlite's single connection is held for few round trips) —
 * and the per-outbox watermarks, read and locked inside the batch's transaction.
 *
 * A batch's transaction, in order (central/sites/control.ts composes it):
 *   fence(tx, siteId) for each site (central/cluster: a node that lost the partition cannot commit),
 *   lockWatermarks (the stored seq per outbox, FOR UPDATE: another node's batch of the same outbox waits),
 *   plan against those watermarks (seq ≤ watermark = duplicate), writeRows per table, cp_seq last.
 */
import { checkIdentifier, type Sql, type SqlValue } from "../db/sql.ts";

type Column = readonly [name: string, type: "text" | "bigint" | "boolean"];

/** Tables a batch fills row by row: columns in row order, and the key a re-sent row replaces (null: every row is appended). */
export const MIRROR_ROWS = {
  cp_seq: { columns: [["site_id", "text"], ["ob", "text"], ["last_seq", "bigint"]], key: ["site_id", "ob"] },
  cp_events: {
    columns: [["site_id", "text"], ["ob", "text"], ["seq", "bigint"], ["event_id", "text"], ["camera_id", "text"], ["kind", "text"], ["at_ms", "bigint"], ["data", "text"], ["received_ms", "bigint"]],
    key: null,
  },
  cp_segments: { columns: [["site_id", "text"], ["camera_id", "text"], ["stream", "text"], ["start_ms", "bigint"], ["end_ms", "bigint"], ["bytes", "bigint"]], key: ["site_id", "camera_id", "stream", "start_ms"] },
  cp_gaps: { columns: [["site_id", "text"], ["camera_id", "text"], ["stream", "text"], ["start_ms", "bigint"], ["end_ms", "bigint"], ["reason", "text"]], key: ["site_id", "camera_id", "stream", "start_ms"] },
  cp_locks: {
    columns: [["site_id", "text"], ["camera_id", "text"], ["lock_id", "text"], ["start_ms", "bigint"], ["end_ms", "bigint"], ["reason", "text"], ["expires_ms", "bigint"]],
    key: ["site_id", "lock_id"],
  },
  cp_retention: { columns: [["site_id", "text"], ["camera_id", "text"], ["stream", "text"], ["horizon_ms", "bigint"], ["updated_ms", "bigint"]], key: ["site_id", "camera_id", "stream"] },
  cp_cameras: { columns: [["site_id", "text"], ["camera_id", "text"], ["name", "text"], ["enabled", "boolean"], ["streams", "text"], ["updated_ms", "bigint"]], key: ["site_id", "camera_id"] },
  cp_applied: { columns: [["site_id", "text"], ["version", "bigint"], ["state", "text"], ["reason", "text"], ["at_ms", "bigint"]], key: ["site_id"] },
  cp_health: { columns: [["site_id", "text"], ["at_ms", "bigint"], ["received_ms", "bigint"], ["body", "text"]], key: null },
  cp_telemetry: { columns: [["site_id", "text"], ["ob", "text"], ["seq", "bigint"], ["kind", "text"], ["camera_id", "text"], ["at_ms", "bigint"], ["data", "text"]], key: null },
  cp_rejected: { columns: [["site_id", "text"], ["ob", "text"], ["seq", "bigint"], ["type", "text"], ["reason", "text"], ["received_ms", "bigint"]], key: ["site_id", "ob", "seq"] },
} as const satisfies Record<string, { columns: readonly Column[]; key: readonly string[] | null }>;
export type MirrorTable = keyof typeof MIRROR_ROWS;
export type MirrorValue = string | number | bigint | boolean | null;

/**
 * Stores rows (values in MIRROR_ROWS column order) with one statement. A keyed table's row
 * replaces the stored one with its key; of several rows with one key in `rows` the last wins
 * (PostgreSQL refuses to update one row twice in a statement). Returns the rows written.
 */
export async function writeRows(tx: Pick<Sql, "run">, table: MirrorTable, rows: readonly (readonly MirrorValue[])[]): Promise<number> {
  if (!rows.length) return 0;
  const t = MIRROR_ROWS[table];
  const cols: string[] = t.columns.map(([c]) => c);
  let list = rows;
  if (t.key) {
    const at = t.key.map((k) => cols.indexOf(k));
    const byKey = new Map<string, readonly MirrorValue[]>();
    for (const r of rows) byKey.set(JSON.stringify(at.map((i) => String(r[i]))), r);
    // In key order: two transactions upserting the same keys (a partition moving between nodes) lock them in one order.
    list = [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
  }
  const docs = list.map((r) => {
    if (r.length !== cols.length) throw new Error(`${table}: a row has ${r.length} values for ${cols.length} columns`);
    const o: Record<string, SqlValue> = {};
    // Epoch-ms values are exact as JSON numbers; jsonb cannot hold a bigint.
    cols.forEach((c, i) => (o[c] = typeof r[i] === "bigint" ? Number(r[i]) : (r[i] as SqlValue)));
    return o;
  });
  return tx.run(INSERTS[table], [{ r: docs }]);
}

/** Each table's statement, built once from MIRROR_ROWS (code constants; identifiers checked). */
const INSERTS = Object.fromEntries(
  Object.entries(MIRROR_ROWS).map(([name, t]: [string, { columns: readonly Column[]; key: readonly string[] | null }]) => {
    const table = checkIdentifier(name);
    const cols = t.columns.map(([c]) => checkIdentifier(c)).join(", ");
    const shape = t.columns.map(([c, ty]) => `${c} ${ty}`).join(", ");
    const update = t.columns.map(([c]) => c).filter((c) => !t.key?.includes(c));
    const conflict = !t.key ? "" : ` ON CONFLICT (${t.key.join(", ")}) DO ${update.length ? `UPDATE SET ${update.map((c) => `${c} = excluded.${c}`).join(", ")}` : "NOTHING"}`;
    return [table, `INSERT INTO ${table} (${cols}) SELECT ${cols} FROM jsonb_to_recordset($1::jsonb -> 'r') AS x(${shape})${conflict}`];
  }),
) as Record<MirrorTable, string>;

export const watermarkKey = (siteId: string, ob: string) => `${siteId}\u0000${ob}`;

/**
 * The stored watermark of every outbox of these sites, locked FOR UPDATE until the transaction
 * ends: a batch of the same outbox on another node (a partition moving) waits, then sees this
 * one's watermark. Locked in (site, ob) order, so two batches over the same outboxes cannot wait
 * on each other in a cycle. Keyed by watermarkKey(site, ob).
 */
export async function lockWatermarks(tx: Pick<Sql, "query">, siteIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!siteIds.length) return out;
  const rows = await tx.query<{ site_id: string; ob: string; last_seq: number }>(
    `SELECT site_id, ob, last_seq FROM cp_seq WHERE site_id IN (SELECT jsonb_array_elements_text($1::jsonb -> 's')) ORDER BY site_id, ob FOR UPDATE`,
    [{ s: [...new Set(siteIds)] }],
  );
  for (const r of rows) out.set(watermarkKey(r.site_id, r.ob), Number(r.last_seq));
  return out;
}
