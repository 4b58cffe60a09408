/**
 * The operations tables (events, alarms and comments, rules, time profiles, audit log, system
 * log) as central.duckdb held them before central/db: moved once at the first start
 * (central/db/from-duckdb.ts), each table on its own so an empty one in DuckDB never blocks
 * another. DuckDB gives BIGINT as text: times and ids become numbers again.
 */
import type { MovedTable } from "../db/from-duckdb.ts";
import type { SqlValue } from "../db/index.ts";

type Kind = "text" | "int" | "bool";
const value = (v: unknown, k: Kind): SqlValue => (v === null || v === undefined ? null : k === "int" ? Number(v) : k === "bool" ? v === true || v === "true" : String(v));
const table = (name: string, cols: Record<string, Kind>, identity?: string, uniqueBy?: string): MovedTable[] => {
  const columns = Object.keys(cols);
  return [{ table: name, columns, row: (r) => columns.map((c) => value(r[c], cols[c]!)), ...(identity ? { identity } : {}), ...(uniqueBy ? { uniqueBy } : {}) }];
};

export const OPERATIONS_TABLES_IN_DUCKDB: MovedTable[][] = [
  // events.id is unique in the database (migration 0012); DuckDB's de-duplication was a window in memory.
  table("events", { id: "text", time_ms: "int", arrived_ms: "int", late: "bool", source: "text", origin: "text", type: "text", site_id: "text", camera_id: "text", data: "text" }, undefined, "id"),
  [
    ...table(
      "alarms",
      {
        id: "int",
        state: "text",
        priority: "int",
        title: "text",
        instructions: "text",
        site_id: "text",
        camera_id: "text",
        event_id: "text",
        event_type: "text",
        event_ms: "int",
        late: "bool",
        rule_id: "text",
        assignee: "text",
        created_ms: "int",
        updated_ms: "int",
        clip: "text",
        actions: "text",
      },
      "id",
    ),
    // DuckDB's comments had no id: they take new ones, in their old order.
    ...table("alarm_comments", { alarm_id: "int", at_ms: "int", user_name: "text", text: "text", state: "text" }),
  ],
  table("rules", { id: "text", json: "text", source: "text" }),
  table("time_profiles", { name: "text", json: "text" }),
  table("audit_log", {
    seq: "int",
    at_ms: "int",
    user_name: "text",
    action: "text",
    subject: "text",
    site_id: "text",
    camera_id: "text",
    from_ms: "int",
    to_ms: "int",
    outcome: "text",
    detail: "text",
    prev_hash: "text",
    hash: "text",
  }),
  table("syslog", { id: "int", at_ms: "int", level: "text", source: "text", component: "text", msg: "text", fields: "text" }, "id"),
];
