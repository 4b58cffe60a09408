/** lib/lock: one process per data directory (central's, an edge's): data-dir.ts, and starting while holding it: hold.ts. */
export { DataDirLockedError, LOCK_FILE, lockDataDir, type DataDirLock, type LockHolder } from "./data-dir.ts";
export { startHoldingDataDir } from "./hold.ts";
