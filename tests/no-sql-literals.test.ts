/**
 * Guard for "values reach SQL only as bound parameters or through the appender": every
 * template literal in the tree that reads as SQL may interpolate only placeholders ($${…})
 * and the identifier/fragment expressions listed here — each one built from code constants or
 * from "$n" placeholders, never from a value. A new interpolation fails this test until it is
 * turned into a parameter (or, for an identifier, added here with its reason).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.join(import.meta.dir, "..");
const SQL = /\b(SELECT\s|INSERT\s|UPDATE\s\w+\s+SET|DELETE\s+FROM|CREATE\s+(TEMP\s+)?(TABLE|SEQUENCE|INDEX)|DROP\s+TABLE|ALTER\s+TABLE|VALUES\s*\(|WHERE\s|LIMIT\s|OFFSET\s|PRAGMA\s|COPY\s|ATTACH\s)/;

const ALLOWED = new Set([
  // Column lists and table names (code constants).
  "SEG_COLS",
  "RECORD_COLS",
  "table",
  "t.columns",
  "t.stage",
  't.replace ? " OR REPLACE" : ""',
  "ACTIVE",
  "SORTS[q.sort]",
  "col",
  // central/db copyRows: column names checked as plain identifiers (central/db/sql.ts).
  "cols",
  // WHERE clauses and IN lists assembled from "col = $n" pieces.
  "w",
  'where.join(" AND ")',
  'where.length ? "WHERE " + where.join(" AND ") : ""',
  'ph.join(", ")',
  // central/db copyRows: "($1, $2), ($3, $4)" placeholder tuples.
  'tuples.join(", ")',
  // central/mirror/rows.ts: a table's jsonb_to_recordset column types and ON CONFLICT clause, from MIRROR_ROWS (code constants).
  "shape",
  "conflict",
  // lib/store/db.ts segmentDays: a day's lines or their hash (one of two code constants).
  "agg",
  // central/media/intents.ts: the one condition of a cut commit intent (a code constant over $1–$3).
  "CUT_INTENT",
  // central/db copyRows: COPY's source, a driver constant ('/dev/blob' on PGlite, STDIN on a server).
  "source",
]);

function sqlTemplates(src: string): { line: number; text: string; exprs: string[] }[] {
  const out: { line: number; text: string; exprs: string[] }[] = [];
  for (const m of src.matchAll(/`(?:[^`\\]|\\.)*`/gs)) {
    const t = m[0];
    if (!t.includes("${") || !SQL.test(t.replace(/\$\{[^}]*\}/g, " "))) continue;
    const exprs: string[] = [];
    for (const e of t.matchAll(/(\$?)\$\{((?:[^{}]|\{[^{}]*\})*)\}/g)) if (e[1] !== "$") exprs.push(e[2]!.trim());
    out.push({ line: src.slice(0, m.index).split("\n").length, text: t, exprs });
  }
  return out;
}

describe("SQL is never built from values", () => {
  test("every interpolation in SQL text is a placeholder or a listed identifier/fragment", async () => {
    const files = (await Bun.$`git ls-files -- '*.ts' '*.tsx'`.cwd(ROOT).text()).trim().split("\n");
    const bad: string[] = [];
    for (const f of files) {
      if (f === "tests/no-sql-literals.test.ts") continue;
      for (const t of sqlTemplates(readFileSync(path.join(ROOT, f), "utf8"))) {
        for (const e of t.exprs) if (!ALLOWED.has(e)) bad.push(`${f}:${t.line}: \${${e}} in ${t.text.replace(/\s+/g, " ").slice(0, 120)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("the guard sees a hand-built literal", () => {
    const found = sqlTemplates("db.run(`DELETE FROM cp_locks WHERE site_id = ${lit(siteId)}`)");
    expect(found.flatMap((t) => t.exprs)).toEqual(["lit(siteId)"]);
    expect(sqlTemplates("db.run(`SELECT * FROM t WHERE a = $${p.push(v)}`)").flatMap((t) => t.exprs)).toEqual([]);
  });
});
