/**
 * The user-facing HTTPS listener shared by central's user API and the edge's local API: the
 * `api.tls` / `api.plainHttp` config keys, reading an admin's certificate files with a clear
 * error, and the start-up warning when plain HTTP is chosen. Who issues the default
 * certificate is the caller's business (central: its CA; edge: a self-signed one).
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Logger } from "../log/index.ts";

/**
 * Seconds a user-API connection may stay silent (Bun.serve's `idleTimeout`). Bun's default, 10 s,
 * also cuts a request whose handler is still working: on a loaded 2-core box central's
 * `/sites/:id/transfer` took longer and the client got ECONNRESET ("Bun.serve() timed out a
 * request after 10 seconds"). Event streams send heartbeats well within this.
 */
export const API_IDLE_TIMEOUT_S = 120;

/** `api.tls`: the admin's own certificate (chain) and key files, PEM. */
export const ApiTlsFiles = z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict();
export type ApiTlsFiles = z.infer<typeof ApiTlsFiles>;

export interface ServeTls {
  cert: string;
  key: string;
}

/** Read `api.tls` files (relative to `baseDir`); a missing or non-PEM file is a start-up error naming the key. */
export async function readTlsFiles(files: ApiTlsFiles, baseDir = "."): Promise<ServeTls> {
  const read = async (key: "cert" | "key", marker: RegExp): Promise<string> => {
    const p = path.resolve(baseDir, files[key]);
    let text: string;
    try {
      text = await fs.readFile(p, "utf8");
    } catch (e) {
      throw new Error(`api.tls.${key}: cannot read ${p} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (!marker.test(text)) throw new Error(`api.tls.${key}: ${p} is not a PEM ${key === "cert" ? "certificate" : "private key"}`);
    return text;
  };
  return { cert: await read("cert", /-----BEGIN CERTIFICATE-----/), key: await read("key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/) };
}

/** The one log line an admin who chose plain HTTP gets at every start. */
export function warnPlainHttp(log: Logger, what: string, url: string): void {
  log.warn(`${what} serves plain HTTP (api.plainHttp: true): passwords and session cookies cross the network in clear; remove api.plainHttp to serve HTTPS`, { url });
}

/** `[::1]` for IPv6 literals in URLs. */
export function urlHost(h: string): string {
  return h.includes(":") ? `[${h}]` : h;
}

/** The address a client on this machine uses for a listener bound to `host` (wildcards → loopback). */
export function localHost(host: string): string {
  return host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
}
