/** Hono glue: where a request's token comes from, and the 401 when it has none. */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { unauthorized } from "../http/problem.ts";
import type { Session, Sessions } from "./sessions.ts";

export const SESSION_COOKIE = "outpost_session";

/** Bearer token from the Authorization header, else the session cookie. */
export function requestToken(c: Context): string | undefined {
  const h = c.req.header("authorization");
  if (h) {
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    return m?.[1];
  }
  return getCookie(c, SESSION_COOKIE);
}

/** Sets c.var.session, or answers 401 problem+json. */
export function requireSession(sessions: Sessions): MiddlewareHandler<{ Variables: { session: Session } }> {
  return async (c, next) => {
    const token = requestToken(c);
    const s = sessions.get(token);
    if (!s) throw unauthorized(token ? "Your session has expired or is not valid; log in again." : "Log in first (POST /api/v1/login), then send the token as 'Authorization: Bearer …'.");
    c.set("session", s);
    await next();
  };
}
