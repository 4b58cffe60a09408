/**
 * The transfer parts' refusals: `code` says which HTTP problem the routes answer (not-found
 * 404, conflict 409, invalid 400). Owns nothing else.
 */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly code: "not-found" | "conflict" | "invalid",
  ) {
    super(message);
  }
}
