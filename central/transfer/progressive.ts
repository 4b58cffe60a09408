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
import type { Database } from "../db/index.ts";

export const RetrievalQuality = z.enum(["main", "sub-then-main"]);
export type RetrievalQuality = z.infer<typeof RetrievalQuality>;

export async function setQuality(db: Database, id: string, q: RetrievalQuality): Promise<void> {
  if (q === "main") return;
  await db.run(`INSERT INTO tr_retrieval_quality VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET quality = EXCLUDED.quality`, [id, q]);
}

export async function qualityOf(db: Database, id: string): Promise<RetrievalQuality> {
  const r = (await db.query<{ quality: string }>(`SELECT quality FROM tr_retrieval_quality WHERE id = $1`, [id]))[0];
  return RetrievalQuality.catch("main").parse(r?.quality ?? "main");
}

/**
 * The stream(s) of a job the planner should list now: for `sub-then-main` the sub stream
 * until `subComplete()` says the window's sub part is at central, then the job's own stream.
 */
export async function streamsToPlan(db: Database, job: { id: string; stream: StreamKind }, subComplete: () => Promise<boolean>): Promise<StreamKind[]> {
  if (job.stream === "sub" || (await qualityOf(db, job.id)) !== "sub-then-main") return [job.stream];
  return (await subComplete()) ? [job.stream] : ["sub"];
}
