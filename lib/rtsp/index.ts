/**
 * lib/rtsp/ — the RTSP 1.0 protocol (RFC 2326), once, for every side that speaks it: the edge's
 * native ingest client and camera probe, the gst-launch credential relay, and central's RTSP out
 * server. Owns messages (message.ts: heads, case-insensitive headers, Content-Length bodies,
 * serialising with header-injection refusal), the byte stream of a connection (framing.ts:
 * messages and `$` interleaved frames, the ingest hot path), authentication (auth.ts: Basic and
 * Digest, client and server), SDP (sdp.ts) and the structured headers (headers.ts: Transport,
 * Session, RTP-Info). No sockets and no policy: callers own connections, errors and what to
 * accept. Must not import edge/, central/ or federation/.
 */
export { RtspHeaders, STATUS_TEXT, RtspFormatError, parseHead, contentLength, parseRequestLine, parseStatusLine, formatRequest, formatResponse, type RtspMessage, type RtspRequestLine, type RtspStatusLine, type HeaderList } from "./message.ts";
export { RtspReader, interleave, type ReaderLimits } from "./framing.ts";
export { Authenticator, parseAuthHeader, pickChallenge, basicAuthorization, parseBasic, digestResponse, digestChallenge, verifyDigest, quote, type Credentials, type AuthHeader } from "./auth.ts";
export { parseSdpMedia, formatSdp, type SdpMedia, type SdpSession } from "./sdp.ts";
export { parseTransport, formatTransport, parseSession, formatSession, parseRtpInfo, formatRtpInfo, type TransportSpec, type RtpInfo } from "./headers.ts";
