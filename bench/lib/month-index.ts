/**
 * The 30-day edge index the index benches read: 4 cameras × 2 streams × 43,200 one-minute
 * segments from T0 (345,600 rows, one format, hashes, no fragment tables), written by SQL.
 */
import { IndexDb } from "../../lib/store/db.ts";

export const MONTH_T0 = Date.UTC(2026, 0, 1);
export const MONTH_SEGMENTS = 43_200;

export async function writeMonthIndex(path: string): Promise<void> {
  const db = await IndexDb.open(path);
  await db.run(`INSERT INTO formats VALUES (1, 'video/mp4; codecs="avc1.64001f"', 1280, 720)`);
  await db.run(
    `INSERT INTO segments SELECT 'cam' || c, s, $1::BIGINT + i * 60000, $1::BIGINT + i * 60000 + 60000, 6000000, 1, repeat('0', 64), NULL
     FROM range(1, 5) r(c), (VALUES ('main'), ('sub')) v(s), range($2::BIGINT) q(i)`,
    [BigInt(MONTH_T0), BigInt(MONTH_SEGMENTS)],
  );
  await db.close();
}
