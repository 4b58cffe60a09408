/**
 * Progressive retrieval: a retrieval's `quality` says what to fetch and in which order.
 * `main` (the default) fetches the job's stream; `sub-then-main` first fetches the sub
 * stream of the same window (small: a playable preview at central within a fraction of the
 * time) and only when all of the window's sub segments are at central (or lost at the edge)
 * the main stream. The planner (planner.ts) asks `streamsToPlan` per job. The quality is kept
 * beside the job (`tr_retrieval_quality`), so jobs made before it existed read as `main`.
 *
 * Not built yet: `keyframes` (a keyframes-only cut made by the edge from its fragments).
 */
import { z } from "zod";
import type { StreamKind } from "../../lib/store/index.ts";
import type { Database, Sql } from "../db/index.ts";

export const RetrievalQuality = z.enum(["main", "sub-then-main"]);
export type RetrievalQuality = z.infer<typeof RetrievalQuality>;

/** Inside the transaction that creates the job: no node can read the job without its quality. */
export async function setQuality(tx: Pick<Sql, "run">, id: string, q: RetrievalQuality): Promise<void> {
  if (q === "main") return;
  await tx.run(`INSERT INTO tr_retrieval_quality VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET quality = EXCLUDED.quality`, [id, q]);
}

/** A job's quality never changes after it is created: read once per job (every plan asks). */
const known = new WeakMap<Database, Map<string, RetrievalQuality>>();

export async function qualityOf(db: Database, id: string): Promise<RetrievalQuality> {
  let m = known.get(db);
  if (!m) known.set(db, (m = new Map()));
  const hit = m.get(id);
  if (hit) return hit;
  const r = (await db.query<{ quality: string }>(`SELECT quality FROM tr_retrieval_quality WHERE id = $1`, [id]))[0];
  const q = RetrievalQuality.catch("main").parse(r?.quality ?? "main");
  if (m.size > 100_000) m.clear();
  m.set(id, q);
  return q;
}

/**
 * The stream(s) of a job the planner should list now: for `sub-then-main` the sub stream
 * until `subComplete()` says the window's sub part is at central, then the job's own stream.
 */
export async function streamsToPlan(db: Database, job: { id: string; stream: StreamKind }, subComplete: () => Promise<boolean>): Promise<StreamKind[]> {
  if (job.stream === "sub" || (await qualityOf(db, job.id)) !== "sub-then-main") return [job.stream];
  return (await subComplete()) ? [job.stream] : ["sub"];
}
