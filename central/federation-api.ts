/**
 * HTTP apps for edges: the enrollment app (TLS server-auth only — the edge has no certificate
 * yet; the token pins the CA) and the federation app (mTLS; the caller is the PeerIdentity of
 * its verified certificate, in c.var.peer). Other issues mount their edge-facing routes on the
 * federation app through startCentral's `federationRoutes` hook.
 */
import { Hono } from "hono";
import type { HttpBindings } from "@hono/node-server";
import type { TLSSocket } from "node:tls";
import { onNotFound, onProblem, readJson, unauthorized } from "../lib/http/problem.ts";
import { textGuard } from "../lib/http/query.ts";
import type { Logger } from "../lib/log/index.ts";
import { ENROLL_PATHS, EnrollRequest, FEDERATION_PATHS, RenewRequest } from "../federation/enrollment.ts";
import type { PeerCheck, PeerIdentity } from "./peers.ts";
import type { Trust } from "./trust.ts";

export type FederationEnv = { Bindings: HttpBindings; Variables: { peer: PeerIdentity } };

/** `draining`: true while central shuts down (lib/http/drain.ts); failures are then answered 503. */
export function enrollApp(trust: Trust, log: Logger, draining?: () => boolean): Hono {
  const app = new Hono();
  app.onError(onProblem(log, { draining }));
  app.notFound(onNotFound);
  app.use("*", textGuard);
  // The CA certificate is public; the edge checks it against the fingerprint in its token.
  app.get(ENROLL_PATHS.ca, (c) => c.body(trust.pki.bundlePem, 200, { "content-type": "application/x-pem-file" }));
  app.post(ENROLL_PATHS.enroll, async (c) => {
    const body = await readJson(c, EnrollRequest);
    return c.json(await trust.enroll(body.token, body.csr), 201);
  });
  return app;
}

export function federationApp(trust: Trust, check: (s: TLSSocket) => PeerCheck, log: Logger, mount?: (app: Hono<FederationEnv>) => void, draining?: () => boolean): Hono<FederationEnv> {
  const app = new Hono<FederationEnv>();
  app.onError(onProblem(log, { draining }));
  app.notFound(onNotFound);
  app.use("*", async (c, next) => {
    // Re-checked per request: a certificate superseded or revoked mid-connection stops here too.
    const r = check(c.env.incoming.socket as TLSSocket);
    if (!r.ok) throw unauthorized(`Client certificate refused: ${r.reason}.`);
    c.set("peer", r.peer);
    await next();
  });
  app.use("*", textGuard);
  app.get(FEDERATION_PATHS.whoami, (c) => {
    const p = c.var.peer;
    return c.json({ siteId: p.siteId, serial: p.serial, notAfter: new Date(p.notAfter).toISOString(), state: p.role });
  });
  app.get(FEDERATION_PATHS.ca, (c) => c.body(trust.pki.bundlePem, 200, { "content-type": "application/x-pem-file" }));
  app.post(FEDERATION_PATHS.renew, async (c) => {
    const body = await readJson(c, RenewRequest);
    return c.json(await trust.renew(c.var.peer, body.csr), 201);
  });
  app.post(FEDERATION_PATHS.confirm, async (c) => {
    const rec = await trust.confirm(c.var.peer);
    return c.json({ siteId: rec.id, serial: rec.current!.serial, notAfter: rec.current!.notAfter });
  });
  mount?.(app);
  return app;
}
