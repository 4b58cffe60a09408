/**
 * Where updates come from. The agent talks to an UpdateSource, never to a URL directly, so the
 * transfer engine (or a test server) can replace plain HTTPS. HttpSource speaks central's
 * federation routes (/federation/v1/firmware/…) over mTLS with the edge's identity.
 */
import type { ChunkIndex } from "../chunk.ts";
import { UpdateError } from "../meta.ts";
import { FIRMWARE_FEDERATION_BASE, type Offer, type SiteUpdateState, type StatusReport } from "../../federation/firmware.ts";

export { FIRMWARE_FEDERATION_BASE, type Offer, type SiteUpdateState, type StatusReport };

export interface UpdateSource {
  offer(): Promise<Offer | null>;
  /** Root metadata version n, or null when there is none (end of the rotation chain). */
  root(n: number): Promise<unknown | null>;
  targets(version: string): Promise<unknown>;
  chunks(version: string): Promise<ChunkIndex | null>;
  /** Bytes [start, end) of the bundle; the caller stops reading at `end` whatever is sent. */
  range(version: string, start: number, end: number): Promise<ReadableStream<Uint8Array>>;
  report(r: StatusReport): Promise<void>;
  /** Whether central answers at all (for the health check). */
  reachable(): Promise<boolean>;
}

/** The small notification interface: a push channel (MQTT when the control plane has one) pokes the agent; otherwise it polls. */
export interface UpdateNotifier {
  subscribe(onOffer: () => void): () => void;
}

export class HttpSource implements UpdateSource {
  constructor(
    private readonly baseUrl: string,
    private readonly tls?: { ca: string; cert: string; key: string; rejectUnauthorized: true },
    private readonly timeoutMs = 30_000,
  ) {}

  private url(p: string): string {
    return new URL(FIRMWARE_FEDERATION_BASE + p, this.baseUrl).toString();
  }

  private async get(p: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(this.url(p), { headers, tls: this.tls, signal: AbortSignal.timeout(this.timeoutMs) } as RequestInit);
    return res;
  }

  private async json<T>(p: string, allow404 = false, maxBytes = 4_000_000): Promise<T | null> {
    const res = await this.get(p);
    if (allow404 && res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) throw new UpdateError("io", `central answered ${res.status} for ${p}: ${(await res.text()).slice(0, 300)}`);
    // Metadata has a size bound too (endless-data attack on the JSON documents).
    const buf = await readBounded(res.body, maxBytes, p);
    return JSON.parse(new TextDecoder().decode(buf)) as T;
  }

  async offer(): Promise<Offer | null> {
    return ((await this.json<{ offer: Offer | null }>("/offer")) ?? { offer: null }).offer;
  }
  root(n: number) {
    return this.json<unknown>(`/roots/${n}`, true);
  }
  async targets(version: string) {
    return this.json<unknown>(`/releases/${encodeURIComponent(version)}/targets`);
  }
  chunks(version: string) {
    return this.json<ChunkIndex>(`/releases/${encodeURIComponent(version)}/chunks`, true, 64_000_000);
  }
  async range(version: string, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
    const res = await fetch(this.url(`/releases/${encodeURIComponent(version)}/bundle`), {
      headers: { range: `bytes=${start}-${end - 1}` },
      tls: this.tls,
    } as RequestInit);
    if (res.status !== 206 && !(res.status === 200 && start === 0)) {
      await res.body?.cancel();
      throw new UpdateError("io", `bundle range ${start}-${end - 1}: central answered ${res.status}`);
    }
    if (!res.body) throw new UpdateError("io", "bundle response without a body");
    return res.body;
  }
  async report(r: StatusReport): Promise<void> {
    const res = await fetch(this.url("/status"), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(r),
      tls: this.tls,
      signal: AbortSignal.timeout(this.timeoutMs),
    } as RequestInit);
    if (!res.ok) throw new UpdateError("io", `status report refused: ${res.status} ${(await res.text()).slice(0, 200)}`);
    await res.body?.cancel();
  }
  async reachable(): Promise<boolean> {
    try {
      const res = await this.get("/offer");
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }
}

export async function readBounded(body: ReadableStream<Uint8Array> | null, max: number, what: string): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of body as unknown as AsyncIterable<Uint8Array>) {
    n += c.byteLength;
    if (n > max) {
      await body.cancel().catch(() => {});
      throw new UpdateError("too-long", `${what}: more than ${max} bytes (endless-data attack?)`);
    }
    parts.push(c);
  }
  return Buffer.concat(parts);
}
