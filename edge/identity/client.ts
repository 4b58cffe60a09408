/**
 * Edge-side TLS client settings derived from an Identity: node:tls / mqtt.js options, Bun
 * fetch options, and a small mTLS JSON call helper for the federation listener. The CA pinned
 * here is central's bundle, never the system trust store.
 */
import type { Identity } from "./store.ts";

export interface TlsClientOptions {
  ca: string;
  cert: string;
  key: string;
  minVersion: "TLSv1.2";
  rejectUnauthorized: true;
}

/** For node:tls.connect, https.Agent and mqtt.js (spread into its options). */
export function tlsClientOptions(id: Identity): TlsClientOptions {
  return { ca: id.caPem, cert: id.certPem, key: id.keyPem, minVersion: "TLSv1.2", rejectUnauthorized: true };
}

/** For Bun's fetch: `fetch(url, { tls: fetchTls(identity) })`. */
export function fetchTls(id: Identity): { ca: string; cert: string; key: string; rejectUnauthorized: true } {
  return { ca: id.caPem, cert: id.certPem, key: id.keyPem, rejectUnauthorized: true };
}

/** mqtt.js options: client id = site id (central refuses any other), mTLS, no credentials. */
export function mqttClientOptions(id: Identity) {
  return {
    ...tlsClientOptions(id),
    clientId: id.siteId,
    protocolVersion: 4 as const, // aedes speaks MQTT 3.1.1
    reconnectPeriod: 5000,
  };
}

export class FederationError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "FederationError";
  }
}

/** JSON call to central's federation listener over mTLS with this identity. */
export async function federationCall<T>(id: Identity, path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(new URL(path, id.federationUrl), {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: init.body === undefined ? {} : { "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    tls: fetchTls(id),
  });
  return readResponse<T>(res);
}

export async function readResponse<T>(res: Response): Promise<T> {
  const text = await res.text();
  if (!res.ok) {
    let detail = text;
    try {
      const p = JSON.parse(text) as { detail?: string; title?: string };
      detail = p.detail ?? p.title ?? text;
    } catch {
      // not problem+json
    }
    throw new FederationError(res.status, `central answered ${res.status}: ${detail}`);
  }
  return JSON.parse(text) as T;
}
