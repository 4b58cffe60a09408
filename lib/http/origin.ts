/**
 * Cross-site request forgery and cross-site WebSocket hijacking defence, one middleware for
 * central's and the edge's user API. A browser attaches the session cookie to requests that
 * another site's page starts (a no-cors fetch, a form post, a WebSocket), and SameSite alone
 * does not help when that page is on another port of the same host. So every state-changing
 * request (anything but GET/HEAD/OPTIONS) and every WebSocket upgrade must show it comes from
 * this site:
 *  - `Origin` present: it must be this server's own origin (scheme://host:port of the request)
 *    or one listed in `allowedOrigins` (e.g. the public URL behind a TLS-terminating proxy).
 *  - no `Origin` but `Sec-Fetch-Site`: it must be `same-origin` or `none` (typed by the user).
 *  - neither header: not a browser (curl, the CLI, integrations). Allowed when it
 *    authenticates with a header (Authorization: Bearer/Basic/ApiKey, x-api-key), which a page
 *    on another site cannot add without a CORS preflight we never grant; refused when the
 *    session cookie would be its only credential. Requests with no credential at all (login)
 *    pass: they act for nobody.
 * Reads (GET/HEAD) are not state changes, but a page on another site may still embed them with
 * the cookie (`<video src>`, `<img src>`, a no-cors fetch): when the browser says so
 * (`Sec-Fetch-Site: same-site` or `cross-site`, other than a top-level navigation) and the
 * cookie is the only credential, they are refused too.
 * Also refuses, with 415, bodies of the content types a page may send cross-site without a
 * preflight (text/plain, form-urlencoded): no route accepts them, and JSON routes insist on
 * application/json (readJson).
 */
import type { MiddlewareHandler } from "hono";
import { HttpProblem, unsupportedMediaType } from "./problem.ts";

export interface SameOriginOptions {
  /** Other origins the user's browser may come from, e.g. "https://vms.example.com". */
  allowedOrigins?: readonly string[];
  /** Name of the session cookie (to tell cookie-only requests apart). */
  cookieName: string;
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const SIMPLE_TYPES = ["text/plain", "application/x-www-form-urlencoded"];

export const crossSiteRefused = (detail: string) => new HttpProblem(403, "Cross-site request refused", detail);

export function sameOriginOnly(o: SameOriginOptions): MiddlewareHandler {
  const allowed = new Set((o.allowedOrigins ?? []).map((x) => new URL(x).origin));
  return async (c, next) => {
    const h = c.req.raw.headers;
    const upgrade = h.get("upgrade")?.toLowerCase() === "websocket";
    const origin = h.get("origin");
    const fetchSite = h.get("sec-fetch-site");
    if (SAFE.has(c.req.method) && !upgrade) {
      const foreign = fetchSite === "same-site" || fetchSite === "cross-site";
      if (foreign && h.get("sec-fetch-mode") !== "navigate" && !headerCredential(h) && hasCookie(h.get("cookie"), o.cookieName)) {
        throw crossSiteRefused(`A page on another site (${origin ?? fetchSite}) may not read from this server with your session.`);
      }
      return next();
    }
    if (origin !== null) {
      const own = new URL(c.req.url).origin;
      if (origin !== own && !allowed.has(origin)) throw crossSiteRefused(`Requests from ${origin} may not act on this server (${own}); open the web client from this server, or add the origin to allowedOrigins.`);
    } else if (fetchSite !== null) {
      if (fetchSite !== "same-origin" && fetchSite !== "none") throw crossSiteRefused(`A ${fetchSite} request may not act on this server.`);
    } else if (!headerCredential(h) && hasCookie(h.get("cookie"), o.cookieName)) {
      throw crossSiteRefused("A request authenticated only by the session cookie must come from this server's web client (Origin header); scripts send 'Authorization: Bearer TOKEN'.");
    }
    if (!SAFE.has(c.req.method)) {
      const type = (h.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (SIMPLE_TYPES.includes(type)) throw unsupportedMediaType(`This API takes JSON bodies with 'Content-Type: application/json', not ${type}.`);
    }
    return next();
  };
}

function headerCredential(h: Headers): boolean {
  return !!h.get("authorization") || !!h.get("x-api-key");
}

function hasCookie(cookie: string | null, name: string): boolean {
  return !!cookie && cookie.split(";").some((p) => p.trim().startsWith(`${name}=`));
}
