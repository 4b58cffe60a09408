/**
 * A raw RTSP client for RTSP out's tests (plain or RTSPS): requests serialised and replies read
 * with lib/rtsp, replies matched to requests in order, interleaved media counted. For refusals
 * and protocol details that real players (ffmpeg, gst-launch) do not let a test look at.
 */
import net from "node:net";
import tls from "node:tls";
import { RtspReader, formatRequest, parseStatusLine, type RtspHeaders } from "../../../lib/rtsp/index.ts";

export interface TestReply {
  /** 0 when the connection closed or the reply did not come in time. */
  status: number;
  headers?: RtspHeaders;
  body: string;
  /** Head and body as received. */
  text: string;
}

export class RtspTestClient {
  /** Interleaved bytes received ($ headers included). */
  mediaBytes = 0;
  closedAt: number | null = null;
  private readonly replies: TestReply[] = [];
  private wake: (() => void) | undefined;
  private cseq = 0;

  private constructor(readonly sock: net.Socket) {
    const reader = new RtspReader();
    reader.onFrame = (_ch, p) => (this.mediaBytes += 4 + p.length);
    reader.onMessage = (m) => {
      const body = Buffer.from(m.body).toString("latin1");
      this.replies.push({ status: parseStatusLine(m.startLine)?.status ?? 0, headers: m.headers, body, text: m.lines.join("\r\n") + "\r\n\r\n" + body });
      this.wake?.();
    };
    sock.on("data", (d: Buffer) => {
      if (reader.push(d)) sock.destroy();
    });
    sock.on("close", () => {
      this.closedAt = Date.now();
      this.wake?.();
    });
    sock.on("error", () => undefined);
  }

  /** Connects to 127.0.0.1:port; with `ca`, over TLS verifying the server's certificate against it. */
  static async connect(port: number, ca?: string): Promise<RtspTestClient> {
    const sock = ca ? tls.connect({ host: "127.0.0.1", port, ca }) : net.connect(port, "127.0.0.1");
    await new Promise<void>((r, j) => sock.once(ca ? "secureConnect" : "connect", () => r()).once("error", j));
    return new RtspTestClient(sock);
  }

  /** Sends a request (CSeq added) and waits for the next reply. */
  request(method: string, uri: string, headers: Record<string, string> = {}, timeoutMs = 20_000): Promise<TestReply> {
    this.sock.write(formatRequest(method, uri, [["CSeq", String(++this.cseq)], ...Object.entries(headers)]));
    return this.next(timeoutMs);
  }

  /** Bytes as given (hostile heads), then the next reply. */
  sendRaw(bytes: string, timeoutMs = 10_000): Promise<TestReply> {
    this.sock.write(bytes, "latin1");
    return this.next(timeoutMs);
  }

  /** The next reply, or status 0 when the server closes first or it takes longer than `timeoutMs`. */
  async next(timeoutMs = 20_000): Promise<TestReply> {
    const deadline = Date.now() + timeoutMs;
    while (!this.replies.length && this.closedAt === null && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
    }
    return this.replies.shift() ?? { status: 0, body: "", text: "" };
  }

  /** Resolves once the server has closed the connection (or after `timeoutMs`); whether it did. */
  async closed(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.closedAt === null && Date.now() < deadline) await Bun.sleep(50);
    return this.closedAt !== null;
  }

  close(): void {
    this.sock.destroy();
  }
}

export const basicAuth = (user: string, pw: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}` });
