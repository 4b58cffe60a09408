/**
 * The 30-day edge index the index benches read: 4 cameras × 2 streams × 43,200 one-minute
 * segments from T0 (345,600 rows, one format, hashes, no fragment tables), written by SQL —
 * in SQLite (the edge's index) or, for comparisons with earlier runs, DuckDB.
 */
import { IndexDb } from "../../lib/store/db.ts";
import { SqliteIndex } from "../../lib/store/sqlite-index.ts";

export const MONTH_T0 = Date.UTC(2026, 0, 1);
export const MONTH_SEGMENTS = 43_200;

export async function writeMonthIndex(path: string, kind: "sqlite" | "duckdb" = "sqlite"): Promise<void> {
  if (kind === "duckdb") {
    const db = await IndexDb.open(path);
    await db.run(`INSERT INTO formats VALUES (1, 'video/mp4; codecs="avc1.64001f"', 1280, 720)`);
    await db.run(
      `INSERT INTO segments SELECT 'cam' || c, s, $1::BIGINT + i * 60000, $1::BIGINT + i * 60000 + 60000, 6000000, 1, repeat('0', 64), NULL
       FROM range(1, 5) r(c), (VALUES ('main'), ('sub')) v(s), range($2::BIGINT) q(i)`,
      [BigInt(MONTH_T0), BigInt(MONTH_SEGMENTS)],
    );
    await db.close();
    return;
  }
  const db = await SqliteIndex.open(path);
  await db.run(`INSERT INTO formats VALUES (1, 'video/mp4; codecs="avc1.64001f"', 1280, 720)`);
  await db.run(
    `WITH RECURSIVE q(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM q WHERE i + 1 < $2)
     INSERT INTO segments SELECT 'cam' || c.c, v.s, $1 + i * 60000, $1 + i * 60000 + 60000, 6000000, 1, $3, NULL
     FROM (SELECT 1 AS c UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) c, (SELECT 'main' AS s UNION ALL SELECT 'sub') v, q`,
    [MONTH_T0, MONTH_SEGMENTS, "0".repeat(64)],
  );
  await db.close();
}
