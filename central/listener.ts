/**
 * A Hono app behind node:tls. Bun.serve cannot show the client certificate, so TLS is
 * terminated here and each verified socket is handed to a node:http server
 * (TOOLCHAIN.md, mTLS). `onSecure` decides per connection whether to serve it at all.
 */
import tls, { type TLSSocket } from "node:tls";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";

export interface TlsListenOptions {
  host: string;
  port: number;
  key: string;
  cert: string;
  /** CA bundle to verify client certificates against; omit for server-auth-only TLS. */
  clientCa?: string;
  minVersion: "TLSv1.2" | "TLSv1.3";
  fetch: Parameters<typeof getRequestListener>[0];
  /** Return false to drop the connection before any HTTP is read. */
  onSecure?: (socket: TLSSocket) => boolean;
}

export interface TlsListener {
  port: number;
  server: tls.Server;
  /** Replace key/cert/CA without restarting (CA bundle rotation, server cert renewal). */
  setContext(o: { key: string; cert: string; clientCa?: string }): void;
  close(): Promise<void>;
}

export function tlsServerOptions(o: { key: string; cert: string; clientCa?: string; minVersion: "TLSv1.2" | "TLSv1.3" }): tls.TlsOptions {
  return {
    key: o.key,
    cert: o.cert,
    minVersion: o.minVersion,
    ...(o.clientCa ? { ca: o.clientCa, requestCert: true, rejectUnauthorized: true } : { requestCert: false }),
  };
}

export async function listenTls(o: TlsListenOptions): Promise<TlsListener> {
  // overrideGlobalObjects:false — otherwise @hono/node-server replaces the global Response with
  // its own class, and Bun.serve in the same process (the user API) rejects every response.
  const httpServer = http.createServer(getRequestListener(o.fetch, { overrideGlobalObjects: false }));
  const sockets = new Set<TLSSocket>();
  const server = tls.createServer(tlsServerOptions(o), (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    if (o.onSecure && !o.onSecure(socket)) {
      socket.destroy();
      return;
    }
    httpServer.emit("connection", socket);
  });
  server.on("tlsClientError", () => {
    // refused handshakes are expected (wrong/missing certificates); nothing to do
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    server,
    setContext(c) {
      server.setSecureContext(tlsServerOptions({ ...c, minVersion: o.minVersion }) as tls.SecureContextOptions);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      httpServer.close();
    },
  };
}
