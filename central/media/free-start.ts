/**
 * The "next free millisecond" rule every central commit follows (CentralMedia.commit for an
 * upload, PgStoreIndex for a live recording's row): when another commit holds a segment's start,
 * the segment is stored at the next start nobody holds, within a second of its own — one row
 * per key, no commit's row replaced, the footage kept for custody to judge (docs/design/
 * central-cluster.md, "Recordings on shared storage").
 */

/** How far past its own start a segment may move. */
export const FREE_START_WITHIN_MS = 1000;

/**
 * Tries `attempt` at `first`, `first + 1`, … until it answers (not undefined): that answer.
 * Undefined when every start within FREE_START_WITHIN_MS is held.
 */
export async function claimFreeStart<T>(first: number, attempt: (startMs: number) => Promise<T | undefined>): Promise<T | undefined> {
  for (let start = first; start < first + FREE_START_WITHIN_MS; start++) {
    const answer = await attempt(start);
    if (answer !== undefined) return answer;
  }
  return undefined;
}
