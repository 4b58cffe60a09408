/**
 * This node's id when cluster.nodeId is not set: made once and kept in DATA/node-id, so a
 * restarted node is the same node and re-claims its partitions at once instead of waiting for
 * its old leases to run out. Nodes of a cluster have their own data directories.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { NODE_ID } from "./config.ts";

export function persistedNodeId(dataDir: string): string {
  const file = path.join(dataDir, "node-id");
  if (existsSync(file)) {
    const id = readFileSync(file, "utf8").trim();
    const ok = NODE_ID.safeParse(id);
    if (!ok.success) throw new Error(`${file}: not a node id (${ok.error.issues[0]?.message}); delete it to make a new one, or set cluster.nodeId`);
    return id;
  }
  const id = `node-${randomBytes(6).toString("hex")}`;
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}
