/**
 * central/live/rtsp/ — RTSP out: central re-serves each live camera stream as RTSP 1.0 for
 * third-party players and VMSs (ffplay, VLC, GStreamer, another VMS) at
 * `rtsps://host:port/<site>.<camera>[/<main|sub>]` (plain rtsp:// only when configured), with
 * central's users (Basic auth: account password or a per-user stream credential), the view-live
 * right and an audit record per session. Stream copy from the live hubs' fMP4 to RTP
 * (interleaved over TCP); no transcoding. Owns only this folder; uses CentralLive for demand
 * (so players start and stop the edge uplink like any viewer) and must not import edge/.
 *
 * Replay (replay.ts): `/replay/<site>.<camera>/<stream>` serves central's recorded footage with
 * ONVIF Range: clock= / Scale (the ONVIF bridge's GetReplayUri points there).
 *
 * Wiring (central composition, when `cfg.live.rtsp.enabled`):
 *   const rtsp = await startRtspOut({ live, users: central.ops.users, rights: central.ops.rights, credentials,
 *     audit: central.ops.recordAudit, host, tls: { cert, key, port: tlsPort }, port?: plainPort, log });
 *   … await rtsp.close() before live.close().
 */
export { startRtspOut, type RtspOut, type RtspOutOptions, type VerifyResult } from "./server.ts";
export { StreamCredentials, STREAM_SECRET_PREFIX, type StreamCredential } from "./credentials.ts";
export { trackConfigs, fragmentSamples, type TrackConfig, type Sample } from "./media.ts";
export { sdpFor, RtpTrack } from "./rtp.ts";
export { ReplaySource, ReplayStream, parseClockRange, clockString, type ReplayOptions } from "./replay.ts";
