/**
 * Whether another central node is alive right now (holds an unexpired partition lease), asked
 * before this node's leases start: a node that is alone may recover the whole shared store at
 * start; one that is not leaves other nodes' files to them (lib/store recovery scope).
 */
import type { Database } from "../db/index.ts";

export async function otherNodesAlive(db: Database, nodeId: string, nowMs: number): Promise<boolean> {
  const rows = await db.query(`SELECT 1 FROM partitions WHERE node_id IS NOT NULL AND node_id <> $1 AND lease_until_ms > $2 LIMIT 1`, [nodeId, nowMs]);
  return rows.length > 0;
}
