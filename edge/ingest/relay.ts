/**
 * A loopback RTSP relay that holds a camera's credentials for one gst-launch child, so the
 * password never appears on a command line (/proc/PID/cmdline is readable by every local user;
 * rtspsrc takes credentials only as properties or in the URL, both argv for gst-launch).
 *
 * gst-launch connects to rtsp://127.0.0.1:PORT/TOKEN/<camera path> without credentials. The
 * relay rewrites URLs between that base and the camera's, answers the camera's Basic/Digest
 * challenges (the native engine's Authenticator) on every request, and passes interleaved
 * RTP/RTCP ($ frames) through untouched. It accepts one connection whose first request carries
 * the random TOKEN, then stops listening: a local user who reads the token from `ps` would have
 * to connect before the child does, and even then gets one stream session, never the password.
 */
import net from "node:net";
import { randomBytes } from "node:crypto";
import { Authenticator, RtspHeaders, RtspReader, interleave, pickChallenge, type Credentials } from "../../lib/rtsp/index.ts";
import type { Logger } from "../../lib/log/index.ts";

export interface RtspRelay {
  /** What gst-launch's rtspsrc gets as location (no credentials in it). */
  url: string;
  close(): void;
}

interface Message {
  /** "$" frame (pass through) or an RTSP message (head lines as received + body). */
  frame?: Buffer;
  lines?: string[];
  headers?: RtspHeaders;
  body?: Buffer;
}

/** Splits a byte stream into $ frames and RTSP messages (lib/rtsp's reader); throws when it is not RTSP. */
export class RtspStreamSplitter {
  private readonly reader = new RtspReader();
  private out: Message[] = [];
  constructor() {
    // The reader's frame payloads are transient views: copied, as they are written later.
    this.reader.onFrame = (ch, p) => this.out.push({ frame: Buffer.from(interleave(ch, p)) });
    this.reader.onMessage = (m) => this.out.push({ lines: m.lines, headers: m.headers, body: Buffer.from(m.body) });
  }
  push(chunk: Buffer): Message[] {
    const refused = this.reader.push(chunk);
    const out = this.out;
    this.out = [];
    if (refused) throw new Error(refused);
    return out;
  }
}

function encode(lines: string[], body: Buffer): Buffer {
  const head = lines.filter((l) => !/^content-length\s*:/i.test(l));
  if (body.length) head.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(head.join("\r\n") + "\r\n\r\n", "latin1"), body]);
}

/** Starts a relay to `cameraUrl` (credentials are taken from `cred`, never from the URL). */
export async function startRtspRelay(o: { cameraUrl: string; cred: Credentials; log?: Logger }): Promise<RtspRelay> {
  const cam = new URL(o.cameraUrl);
  cam.username = "";
  cam.password = "";
  const camPort = Number(cam.port || 554);
  const camBase = `rtsp://${cam.host}`;
  const token = randomBytes(16).toString("hex");
  const server = net.createServer();
  let taken = false;
  const sockets = new Set<net.Socket>();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const relayBase = `rtsp://127.0.0.1:${(server.address() as net.AddressInfo).port}/${token}`;
  const toCamera = (s: string) => s.split(relayBase).join(camBase);
  // The camera may name itself with or without the default port; map both back to the relay.
  const camNames = cam.port ? [camBase] : [camBase, `rtsp://${cam.hostname}:554`];
  const toRelay = (s: string) => camNames.reduce((acc, n) => acc.split(n).join(relayBase), s);

  server.on("connection", (client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    if (taken) {
      client.destroy();
      return;
    }
    let verified = false;
    let auth: Authenticator | null = null;
    const sent = new Map<string, { lines: string[]; body: Buffer; retried: boolean }>();
    const upstream = net.connect({ host: cam.hostname.replace(/^\[|\]$/g, ""), port: camPort });
    sockets.add(upstream);
    upstream.on("close", () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on("close", () => upstream.destroy());
    upstream.on("error", (e) => o.log?.debug("relay: camera connection failed", { err: e }));
    client.on("error", () => upstream.destroy());

    const sendRequest = (lines: string[], body: Buffer) => {
      const [method, uri] = lines[0]!.split(" ");
      const out = lines.filter((l) => !/^authorization\s*:/i.test(l));
      if (auth) out.push(`Authorization: ${auth.header(method!, uri!)}`);
      upstream.write(encode(out, body));
    };

    const fromClient = new RtspStreamSplitter();
    client.on("data", (chunk: Buffer) => {
      let msgs: Message[];
      try {
        msgs = fromClient.push(chunk);
      } catch {
        client.destroy();
        return;
      }
      for (const m of msgs) {
        if (m.frame) {
          if (verified) upstream.write(m.frame);
          continue;
        }
        if (!verified) {
          // The first request must carry the token; anyone else is turned away, and the
          // listener stays open for the child.
          if (!m.lines![0]!.includes(`${relayBase}/`) && !m.lines![0]!.includes(`${relayBase} `)) {
            client.destroy();
            return;
          }
          verified = true;
          taken = true;
          server.close();
        }
        const lines = m.lines!.map(toCamera);
        const body = Buffer.from(toCamera(m.body!.toString("latin1")), "latin1");
        const cseq = m.headers!.get("cseq") ?? "";
        sent.set(cseq, { lines, body, retried: false });
        sendRequest(lines, body);
      }
    });

    const fromCamera = new RtspStreamSplitter();
    upstream.on("data", (chunk: Buffer) => {
      let msgs: Message[];
      try {
        msgs = fromCamera.push(chunk);
      } catch {
        upstream.destroy();
        return;
      }
      // One write per chunk read (RTP packets are small and many).
      const out: Buffer[] = [];
      for (const m of msgs) {
        if (m.frame) {
          out.push(m.frame);
          continue;
        }
        const lines = m.lines!;
        const status = /^RTSP\/1\.\d\s+(\d+)/.exec(lines[0]!)?.[1];
        const cseq = m.headers!.get("cseq") ?? "";
        const req = sent.get(cseq);
        const challenge = pickChallenge(m.headers!.all("www-authenticate"));
        if (status === "401" && req && !req.retried && challenge) {
          // Answer the challenge ourselves; gst-launch never sees it (and never has the password).
          auth = new Authenticator(challenge, o.cred);
          req.retried = true;
          sendRequest(req.lines, req.body);
          continue;
        }
        if (status) sent.delete(cseq);
        out.push(encode(lines.map(toRelay), Buffer.from(toRelay(m.body!.toString("latin1")), "latin1")));
      }
      if (out.length) client.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    });
  });

  return {
    url: relayBase + cam.pathname + cam.search,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

/** With several WWW-Authenticate headers, Digest (what real cameras expect) wins. */
