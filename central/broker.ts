/**
 * The embedded MQTT broker (aedes) behind node:tls with client certificates. A connection is
 * accepted only if its certificate passes checkPeer; CONNECT only if the client id equals the
 * certificate's site id; publish/subscribe only under outpost/v1/sites/<own id>/. Central
 * itself publishes in-process with broker.publish (no socket, no ACL).
 */
import tls, { type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { Aedes, type AuthenticateError, type Client } from "aedes";
import { topicBelongsToSite } from "../federation/identity.ts";
import type { Logger } from "../lib/log/index.ts";
import { tlsServerOptions } from "./listener.ts";
import type { PeerCheck, PeerIdentity, SessionTable } from "./peers.ts";

export interface BrokerOptions {
  host: string;
  port: number;
  key: string;
  cert: string;
  clientCa: string;
  minVersion: "TLSv1.2" | "TLSv1.3";
  check: (socket: TLSSocket) => PeerCheck;
  sessions: SessionTable;
  log: Logger;
  onSeen?: (siteId: string) => void;
}

export interface MqttListener {
  port: number;
  broker: Aedes;
  setContext(o: { key: string; cert: string; clientCa: string }): void;
  close(): Promise<void>;
}

const peerOf = new WeakMap<object, PeerIdentity>();

function authError(message: string, code: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code }) as AuthenticateError;
}

export async function startBroker(o: BrokerOptions): Promise<MqttListener> {
  const broker = await Aedes.createBroker({
    authenticate(client: Client, _user, _pass, done) {
      const peer = peerOf.get(client.conn);
      if (!peer) return done(authError("no verified certificate", 5), false);
      if (client.id !== peer.siteId) {
        o.log.warn("MQTT client id does not match certificate", { siteId: peer.siteId, clientId: client.id });
        return done(authError("client id must equal the certificate's site id", 2), false);
      }
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      const peer = client ? peerOf.get(client.conn) : undefined;
      if (client && (!peer || !topicBelongsToSite(packet.topic, peer.siteId))) {
        // aedes answers an error by closing the connection: a site that writes outside its own
        // subtree is misbehaving, and MQTT 3.1.1 has no way to NACK a single publish.
        return done(new Error(`publish to ${packet.topic} not allowed`));
      }
      done(null);
    },
    authorizeSubscribe(client, sub, done) {
      const peer = peerOf.get(client.conn);
      // null subscription = SUBACK 0x80 for this filter; the connection stays up.
      if (!peer || !topicBelongsToSite(sub.topic, peer.siteId)) return done(null, null);
      done(null, sub);
    },
  });
  const sockets = new Set<TLSSocket>();
  const server = tls.createServer(tlsServerOptions(o), (socket) => {
    sockets.add(socket);
    socket.on("error", () => socket.destroy());
    const r = o.check(socket);
    if (!r.ok) {
      o.log.info("MQTT connection refused", { reason: r.reason });
      // CONNACK "not authorized" (MQTT 3.1.1 return code 5), then close: the edge can tell
      // "central refuses my certificate" (revoked, superseded) from a network failure. Says no more than that.
      socket.end(Buffer.from([0x20, 0x02, 0x00, 0x05]));
      setTimeout(() => socket.destroy(), 5000).unref();
      sockets.delete(socket);
      return;
    }
    peerOf.set(socket, r.peer);
    const untrack = o.sessions.add("mqtt", r.peer, () => socket.destroy());
    socket.once("close", () => {
      sockets.delete(socket);
      untrack();
    });
    o.onSeen?.(r.peer.siteId);
    broker.handle(socket);
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    broker,
    setContext(c) {
      server.setSecureContext(tlsServerOptions({ ...c, minVersion: o.minVersion }) as tls.SecureContextOptions);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    },
  };
}
