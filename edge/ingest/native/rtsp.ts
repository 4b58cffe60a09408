/**
 * RTSP 1.0 client connection over TCP: requests with CSeq matching, Basic/Digest
 * authorization for every request once challenged, and interleaved RTP/RTCP frames
 * ($ channel length payload) delivered to a callback as they arrive.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Socket } from "bun";
import { ProbeError } from "../probe.ts";

export interface RtspResponse {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  body: string;
}

export interface Credentials {
  user: string;
  password: string;
}

function md5(s: string): string {
  return createHash("md5").update(s).digest("hex");
}

/** Answers a WWW-Authenticate challenge (Digest preferred, qop=auth supported, else Basic). */
export class Authenticator {
  private nc = 0;
  private readonly digest: Record<string, string> | undefined;
  constructor(
    challenge: string,
    private readonly cred: Credentials,
  ) {
    if (/^\s*digest/i.test(challenge)) {
      const p: Record<string, string> = {};
      for (const m of challenge.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) p[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? "";
      this.digest = p;
    }
  }
  header(method: string, uri: string): string {
    const { user, password } = this.cred;
    const d = this.digest;
    if (!d) return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    const realm = d.realm ?? "";
    const nonce = d.nonce ?? "";
    const ha1 = md5(`${user}:${realm}:${password}`);
    const ha2 = md5(`${method}:${uri}`);
    const opaque = d.opaque !== undefined ? `, opaque="${d.opaque}"` : "";
    if (d.qop && /\bauth\b/.test(d.qop)) {
      const nc = (++this.nc).toString(16).padStart(8, "0");
      const cnonce = randomBytes(8).toString("hex");
      const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
      return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", qop=auth, nc=${nc}, cnonce="${cnonce}"${opaque}`;
    }
    return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${md5(`${ha1}:${nonce}:${ha2}`)}"${opaque}`;
  }
}

type Pending = { resolve: (r: RtspResponse) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> };

export class RtspConnection {
  /** Interleaved frame (RTP on even channels, RTCP on odd ones); the payload is a view into a transient buffer. */
  onFrame: (channel: number, payload: Uint8Array) => void = () => {};
  onClose: (why: string) => void = () => {};
  auth: Authenticator | undefined;
  session: string | undefined;
  private cseq = 1;
  private pending = new Map<number, Pending>();
  /** Received bytes not parsed yet (a frame or message cut by the TCP read), reused across reads. */
  private pend = new Uint8Array(0);
  private pendLen = 0;
  private closed = false;
  private closeReason = "connection closed by the camera";

  private constructor(
    private readonly sock: Socket<undefined>,
    readonly host: string,
    readonly port: number,
  ) {}

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

  get isClosed(): boolean {
    return this.closed;
  }

  request(method: string, url: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<RtspResponse> {
    if (this.closed) return Promise.reject(new ProbeError("camera-offline", `RTSP ${method} failed: ${this.closeReason}`));
    const cseq = this.cseq++;
    const lines = [`${method} ${url} RTSP/1.0`, `CSeq: ${cseq}`, "User-Agent: outpost-edge"];
    if (this.auth) lines.push(`Authorization: ${this.auth.header(method, url)}`);
    if (this.session && method !== "DESCRIBE") lines.push(`Session: ${this.session}`);
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    this.sock.write(lines.join("\r\n") + "\r\n\r\n");
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
    if (why) this.closeReason = why;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ProbeError("camera-offline", `RTSP request failed: ${this.closeReason}`));
    }
    this.pending.clear();
    this.onClose(this.closeReason);
  }

  private receive(chunk: Uint8Array): void {
    // A frame usually spans two TCP reads: the tail is kept in one buffer that grows to the
    // largest frame seen and is reused, not a new joined copy per read (allocation churn costs
    // page faults and madvise in the kernel at camera bitrates).
    let buf = chunk;
    if (this.pendLen) {
      const need = this.pendLen + chunk.length;
      if (need > this.pend.length) {
        const grown = new Uint8Array(Math.max(need, this.pend.length * 2, 64 * 1024));
        grown.set(this.pend.subarray(0, this.pendLen));
        this.pend = grown;
      }
      this.pend.set(chunk, this.pendLen);
      buf = this.pend.subarray(0, need);
      this.pendLen = 0;
    }
    let off = 0;
    const n = buf.length;
    while (off < n) {
      if (buf[off] === 0x24) {
        if (n - off < 4) break;
        const len = (buf[off + 2]! << 8) | buf[off + 3]!;
        if (n - off < 4 + len) break;
        this.onFrame(buf[off + 1]!, buf.subarray(off + 4, off + 4 + len));
        off += 4 + len;
        continue;
      }
      const used = this.message(buf, off);
      if (used < 0) {
        this.closeReason = "the camera sent bytes that are neither RTSP nor interleaved RTP";
        this.sock.end();
        this.closedNow();
        return;
      }
      if (used === 0) break;
      off += used;
    }
    if (off < n) {
      const tail = buf.subarray(off);
      if (tail.length > this.pend.length) this.pend = new Uint8Array(Math.max(tail.length, 64 * 1024));
      // copyWithin when the tail already lives in `pend` (overlapping move), else a copy of the read.
      if (tail.buffer === this.pend.buffer) this.pend.copyWithin(0, off, n);
      else this.pend.set(tail, 0);
      this.pendLen = tail.length;
    }
  }

  /** Parses an RTSP message at `off`: bytes used, 0 if incomplete, -1 if garbage. */
  private message(buf: Uint8Array, off: number): number {
    let end = -1;
    for (let i = off; i + 3 < buf.length; i++) {
      if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) {
        end = i;
        break;
      }
      if (i - off > 16384) return -1;
    }
    if (end < 0) return buf.length - off > 16384 ? -1 : 0;
    const head = Buffer.from(buf.buffer, buf.byteOffset + off, end - off).toString("latin1").split("\r\n");
    const headers: Record<string, string> = {};
    for (const h of head.slice(1)) {
      const i = h.indexOf(":");
      if (i <= 0) continue;
      const k = h.slice(0, i).trim().toLowerCase();
      const v = h.slice(i + 1).trim();
      // Several WWW-Authenticate headers: prefer Digest, which real cameras expect.
      if (k === "www-authenticate" && headers[k] && !/^digest/i.test(v)) continue;
      headers[k] = v;
    }
    const len = Number(headers["content-length"] ?? 0);
    const total = end + 4 - off + len;
    if (buf.length - off < total) return 0;
    const status = /^RTSP\/1\.\d\s+(\d+)\s*(.*)$/.exec(head[0] ?? "");
    if (!status) {
      // A request from the server (e.g. GET_PARAMETER or ANNOUNCE): nothing to act on.
      return /^[A-Z_]+ \S+ RTSP\/1\.\d$/.test(head[0] ?? "") ? total : -1;
    }
    const body = Buffer.from(buf.buffer, buf.byteOffset + end + 4, len).toString("utf8");
    const cseq = Number(headers.cseq);
    const p = this.pending.get(cseq);
    if (p) {
      this.pending.delete(cseq);
      clearTimeout(p.timer);
      p.resolve({ status: Number(status[1]), statusText: status[2] ?? "", headers, body });
    }
    return total;
  }
}
