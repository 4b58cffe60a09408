/**
 * Shutting an HTTP server down without requests meeting closed databases: once `begin()` is
 * called every new request is answered 503 (problem+json, Retry-After) instead of reaching a
 * handler, and `settle()` waits, bounded, for the requests already inside to finish; only then
 * may the caller close what handlers use. A handler that still fails because shutdown pulled
 * something from under it is answered 503 as well (onProblem's `draining`), not logged as an
 * unhandled error. Counts a request until its handler returned a Response (a streamed body or
 * a WebSocket is not waited for).
 */
import { shuttingDownResponse } from "./problem.ts";

export class HttpDrain {
  private closing = false;
  private inFlight = 0;
  private idle: (() => void)[] = [];

  /** True once shutdown began: no new request reaches a handler. */
  get draining(): boolean {
    return this.closing;
  }

  /** Requests inside a handler now. */
  get active(): number {
    return this.inFlight;
  }

  /** The server's fetch handler, gated and counted. */
  wrap<F extends (req: Request, ...rest: never[]) => unknown>(fetch: F): F {
    const gated = async (req: Request, ...rest: never[]) => {
      if (this.closing) return shuttingDownResponse(pathOf(req));
      this.inFlight++;
      try {
        return await fetch(req, ...rest);
      } finally {
        if (--this.inFlight === 0) for (const r of this.idle.splice(0)) r();
      }
    };
    return gated as F;
  }

  begin(): void {
    this.closing = true;
  }

  /** Resolves when no request is inside a handler, or after maxMs; returns how many still are. */
  async settle(maxMs: number): Promise<number> {
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, maxMs);
        this.idle.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.inFlight;
  }
}

function pathOf(req: Request): string | undefined {
  try {
    return new URL(req.url).pathname;
  } catch {
    return undefined;
  }
}
