/**
 * Errors the store throws on purpose, so callers can map them: StoreInputError → HTTP 400,
 * StoreLockedError / NotAStoreError → a clear CLI message.
 */
export class StoreInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StoreInputError";
  }
}

/** The index (DuckDB file) is held by another process; DuckDB allows one owner per file. */
export class StoreLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StoreLockedError";
  }
}

export class NotAStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotAStoreError";
  }
}

/** Errors that mean "no room": a real full volume or the configured quota. */
export function isNoSpace(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === "ENOSPC" || code === "EDQUOT" || (e as Error)?.name === "QuotaError";
}

export class QuotaError extends Error {
  readonly code = "EDQUOT";
  constructor(message: string) {
    super(message);
    this.name = "QuotaError";
  }
}

/**
 * The index refused a recorded segment's row for good (central: this node lost the site's
 * partition to another node, whose writer now records the camera). The store drops the
 * segment instead of retrying its row.
 */
export class RowRefusedError extends Error {
  constructor(
    message: string,
    /** The file is another writer's now (the new owner recovered it into its index): keep it. */
    readonly fileAdopted = false,
  ) {
    super(message);
    this.name = "RowRefusedError";
  }
}
