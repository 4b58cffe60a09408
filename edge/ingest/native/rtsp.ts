/**
 * RTSP 1.0 client connection over TCP (the native ingest's and the camera probe's): requests
 * with CSeq matching, Basic/Digest authorization for every request once challenged, and
 * interleaved RTP/RTCP frames delivered to a callback as they arrive. The protocol itself
 * (framing, messages, auth) is lib/rtsp; this file owns the socket and the errors.
 */
import type { Socket } from "bun";
import { Authenticator, RtspHeaders, RtspReader, formatRequest, parseRequestLine, parseStatusLine, type RtspMessage } from "../../../lib/rtsp/index.ts";
import { ProbeError } from "../probe.ts";
import type { DirectRead, ReadBatcher } from "./read-batch.ts";

export interface RtspResponse {
  status: number;
  statusText: string;
  headers: RtspHeaders;
  body: string;
}

type Pending = { resolve: (r: RtspResponse) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> };

export class RtspConnection {
  /** Interleaved frame (RTP on even channels, RTCP on odd ones); the payload is a view into a transient buffer. */
  set onFrame(f: (channel: number, payload: Uint8Array) => void) {
    this.reader.onFrame = f; // straight to the reader: no extra call per RTP packet
  }
  onClose: (why: string) => void = () => {};
  auth: Authenticator | undefined;
  session: string | undefined;
  private cseq = 1;
  private pending = new Map<number, Pending>();
  /** A camera's head is a few hundred bytes and its SDP a few KiB: anything far larger is not RTSP. */
  private readonly reader = new RtspReader({ maxHead: 16 * 1024, maxBody: 256 * 1024 });
  private closed = false;
  /** Streaming: reads are batched (read-batch.ts); requests and answers before PLAY are not. */
  private batch: ReadBatcher | undefined;
  /** The batcher's own reads of this socket while it is held (bytes fed as the runtime's reads are). */
  private direct: DirectRead | undefined;
  private closeReason = "connection closed by the camera";

  private constructor(
    private readonly sock: Socket<undefined>,
    readonly host: string,
    readonly port: number,
  ) {
    this.reader.onMessage = (m) => this.message(m);
  }

  static open(host: string, port: number, timeoutMs: number): Promise<RtspConnection> {
    let conn: RtspConnection | undefined;
    return new Promise<RtspConnection>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new ProbeError("camera-offline", `camera ${host}:${port} did not accept a connection within ${timeoutMs} ms`));
        conn?.close();
      }, timeoutMs);
      Bun.connect({
        hostname: host,
        port,
        socket: {
          binaryType: "uint8array",
          open(sock) {
            conn = new RtspConnection(sock as Socket<undefined>, host, port);
            if (settled) return conn.close();
            settled = true;
            clearTimeout(timer);
            resolve(conn);
          },
          data(_sock, data) {
            conn?.receive(data as unknown as Uint8Array);
          },
          close() {
            conn?.closedNow();
          },
          error(_sock, err) {
            if (conn) conn.closeReason = `connection to the camera failed (${(err as NodeJS.ErrnoException).code ?? err.message})`;
          },
          connectError(_sock, err) {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            reject(new ProbeError("camera-offline", `camera ${host}:${port} unreachable (${(err as NodeJS.ErrnoException).code ?? err.message})`));
          },
        },
      }).catch((err: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new ProbeError("camera-offline", `camera ${host}:${port} unreachable (${err.code ?? err.message})`));
      });
    });
  }

  /** From now on this connection's reads are batched with every other streaming connection's. */
  batchReads(batch: ReadBatcher): void {
    this.batch = batch;
    const fd = (this.sock as { fd?: number }).fd;
    if (typeof fd === "number" && fd >= 0) this.direct = { fd, data: (bytes) => void this.feed(bytes) };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  request(method: string, url: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<RtspResponse> {
    if (this.closed) return Promise.reject(new ProbeError("camera-offline", `RTSP ${method} failed: ${this.closeReason}`));
    const cseq = this.cseq++;
    const lines: [string, string][] = [["CSeq", String(cseq)], ["User-Agent", "outpost-edge"]];
    if (this.auth) lines.push(["Authorization", this.auth.header(method, url)]);
    if (this.session && method !== "DESCRIBE") lines.push(["Session", this.session]);
    lines.push(...Object.entries(headers));
    let bytes: Buffer;
    try {
      bytes = formatRequest(method, url, lines);
    } catch (e) {
      return Promise.reject(new ProbeError("camera-offline", `cannot send RTSP ${method}: ${(e as Error).message}`));
    }
    this.sock.write(bytes);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cseq);
        reject(new ProbeError("camera-offline", `camera did not answer RTSP ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(cseq, { resolve, reject, timer });
    });
  }

  /** Sends a request without waiting for (or minding) the answer. */
  send(method: string, url: string): void {
    this.request(method, url).catch(() => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.sock.end();
    this.closedNow("connection closed by the recorder");
  }

  private closedNow(why?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.batch?.forget(this.sock);
    if (why) this.closeReason = why;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ProbeError("camera-offline", `RTSP request failed: ${this.closeReason}`));
    }
    this.pending.clear();
    this.onClose(this.closeReason);
  }

  private receive(chunk: Uint8Array): void {
    if (this.feed(chunk) && this.batch && !this.closed) this.batch.hold(this.sock, chunk.length, this.direct);
  }

  /** One read's bytes to the reader; false when they were refused (the connection is closed then). */
  private feed(chunk: Uint8Array): boolean {
    const refused = this.reader.push(chunk);
    if (!refused) return true;
    this.refuse(`the camera sent bytes that are neither RTSP nor interleaved RTP (${refused})`);
    return false;
  }

  private refuse(why: string): void {
    this.reader.stop(why);
    if (this.closed) return;
    this.closeReason = why;
    this.sock.end();
    this.closedNow();
  }

  private message(m: RtspMessage): void {
    const status = parseStatusLine(m.startLine);
    if (!status) {
      // A request from the server (e.g. GET_PARAMETER or ANNOUNCE): nothing to act on.
      if (!parseRequestLine(m.startLine)) this.refuse("the camera sent bytes that are neither RTSP nor interleaved RTP");
      return;
    }
    const cseq = Number(m.headers.get("cseq"));
    const p = this.pending.get(cseq);
    if (!p) return;
    this.pending.delete(cseq);
    clearTimeout(p.timer);
    p.resolve({ status: status.status, statusText: status.reason, headers: m.headers, body: Buffer.from(m.body).toString("utf8") });
  }
}
