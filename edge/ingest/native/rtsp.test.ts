/**
 * The camera-side RTSP client (native ingest and probe) against a scripted camera on a free
 * loopback port: replies that real cameras get wrong, and Digest with qop as strict cameras ask.
 */
import { afterEach, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { RtspReader, digestChallenge, formatResponse, parseRequestLine, verifyDigest } from "../../../lib/rtsp/index.ts";
import { describeStream, ProbeError } from "../probe.ts";

const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n";
let server: TCPSocketListener<RtspReader> | undefined;

afterEach(() => server?.stop(true));

/** A camera that answers each request with `reply(method, headers)` (bytes, or a response to format). */
function camera(reply: (method: string, headers: import("../../../lib/rtsp/index.ts").RtspHeaders) => Uint8Array | string): number {
  server = Bun.listen<RtspReader>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(sock: Socket<RtspReader>) {
        sock.data = new RtspReader();
        sock.data.onMessage = (m) => sock.write(reply(parseRequestLine(m.startLine)!.method, m.headers));
      },
      data(sock, d) {
        sock.data.push(d);
      },
    },
  });
  return server.port;
}

test("a reply announcing a huge body is refused at once with a reason, not waited for until the timeout", async () => {
  const port = camera(() => "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 999999999\r\n\r\nv=0\r\n");
  const err = await describeStream({ url: `rtsp://127.0.0.1:${port}/s`, timeoutMs: 20_000 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProbeError);
  expect((err as ProbeError).reason).toBe("camera-offline");
  expect((err as ProbeError).message).toContain("Content-Length");
});

test("Digest with qop=auth (strict cameras): the probe answers it and gets the SDP", async () => {
  const realm = "IP Camera";
  const { header, nonce } = digestChallenge(realm, { qop: true });
  const seen: string[] = [];
  const port = camera((method, h) => {
    const cseq = h.get("cseq")!;
    const auth = h.get("authorization");
    seen.push(auth ?? "none");
    if (!auth || !verifyDigest(auth, { method, realm, nonce, password: "s3cret \"quoted\"" })) return formatResponse(401, [["CSeq", cseq], ["WWW-Authenticate", 'Basic realm="IP Camera"'], ["WWW-Authenticate", header]]);
    return formatResponse(200, [["CSeq", cseq], ["Content-Type", "application/sdp"]], SDP);
  });
  const desc = await describeStream({ url: `rtsp://127.0.0.1:${port}/s`, user: "admin", password: 's3cret "quoted"', timeoutMs: 10_000 });
  expect(desc.video).toBe("h264");
  expect(seen[1]).toContain("qop=auth");
  const wrong = await describeStream({ url: `rtsp://127.0.0.1:${port}/s`, user: "admin", password: "nope", timeoutMs: 10_000 }).catch((e: unknown) => e);
  expect((wrong as ProbeError).reason).toBe("auth-failed");
});

test("bytes that are neither RTSP nor interleaved RTP end the request with camera-offline", async () => {
  const port = camera(() => "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  const err = await describeStream({ url: `rtsp://127.0.0.1:${port}/s`, timeoutMs: 20_000 }).catch((e: unknown) => e);
  expect((err as ProbeError).reason).toBe("camera-offline");
  expect((err as ProbeError).message).toContain("neither RTSP");
});
