/** Transport, Session and RTP-Info: round trips and hostile values. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { formatRtpInfo, formatSession, formatTransport, parseRtpInfo, parseSession, parseTransport, type TransportSpec } from "./headers.ts";

test("Transport round trip and a client's alternatives in order", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 254 }), fc.integer({ min: 0, max: 0xffffffff }), (ch, ssrc) => {
      const t: TransportSpec = { protocol: "RTP/AVP/TCP", lower: "TCP", unicast: true, interleaved: [ch, ch + 1], ssrc: ssrc.toString(16).toUpperCase().padStart(8, "0") };
      expect(parseTransport(formatTransport(t))).toEqual([t]);
    }),
  );
  const alts = parseTransport("RTP/AVP;unicast;client_port=5000-5001, rtp/avp/tcp;unicast;interleaved=4-5;mode=\"PLAY\"");
  expect(alts).toEqual([
    { protocol: "RTP/AVP", lower: "UDP", unicast: true, clientPort: [5000, 5001] },
    { protocol: "RTP/AVP/TCP", lower: "TCP", unicast: true, interleaved: [4, 5], mode: "PLAY" },
  ]);
  // A channel above 255 cannot be framed: left out, so the server picks one.
  expect(parseTransport("RTP/AVP/TCP;interleaved=300-301")[0]!.interleaved).toBeUndefined();
});

test("Session and RTP-Info round trips; hostile values never throw", () => {
  expect(parseSession(formatSession("abc123", 60))).toEqual({ id: "abc123", timeoutS: 60 });
  expect(parseSession("abc123")).toEqual({ id: "abc123" });
  expect(parseSession(" abc ; Timeout = 30")).toEqual({ id: "abc", timeoutS: 30 });
  const info = [{ url: "rtsp://h/a/trackID=0", seq: 17, rtptime: 123456 }, { url: "rtsp://h/a/trackID=1", seq: 0 }];
  expect(parseRtpInfo(formatRtpInfo(info))).toEqual(info);
  fc.assert(
    fc.property(fc.string({ maxLength: 80, unit: "binary" }), (s) => {
      parseTransport(s);
      parseSession(s);
      for (const i of parseRtpInfo(s)) expect(i.url.length).toBeGreaterThan(0);
    }),
    { numRuns: 500 },
  );
});
