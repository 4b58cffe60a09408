/** lib/lock: one process per data directory (central's, an edge's): data-dir.ts. */
export { DataDirLockedError, LOCK_FILE, lockDataDir, type DataDirLock, type LockHolder } from "./data-dir.ts";
