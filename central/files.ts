/**
 * Small durable-file helpers for central's data dir: atomic replace (tmp + fsync + rename +
 * directory fsync), 0600 secrets, and append-only JSON-lines journals that another process
 * (the CLI) may append to while central runs.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { appendFileDurable } from "../lib/fsutil.ts";

export { fsyncDir, writeFileAtomic } from "../lib/fsutil.ts";

/** Append one JSON record as a line; O_APPEND keeps concurrent writers' lines whole. */
export async function appendJsonLine(file: string, rec: unknown): Promise<void> {
  await appendFileDurable(file, JSON.stringify(rec) + "\n", 0o600);
}

/** Read a JSON-lines file; a torn last line (crash mid-append) is skipped, not fatal. */
export async function readJsonLines<T>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const out: T[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // torn write
    }
  }
  return out;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Data-dir layout, in one place so the CLI and the running central agree. */
export function dataPaths(dataDir: string) {
  return {
    caDir: path.join(dataDir, "ca"),
    caKey: path.join(dataDir, "ca", "ca.key"),
    caCert: path.join(dataDir, "ca", "ca.pem"),
    caBundle: path.join(dataDir, "ca", "bundle.pem"),
    serverDir: path.join(dataDir, "server"),
    serverKey: path.join(dataDir, "server", "server.key"),
    serverCert: path.join(dataDir, "server", "server.pem"),
    db: path.join(dataDir, "central.duckdb"),
    tokens: path.join(dataDir, "tokens.jsonl"),
    revocations: path.join(dataDir, "revocations.jsonl"),
    adminPassword: path.join(dataDir, "admin-password"),
  };
}
