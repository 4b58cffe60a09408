/**
 * edge/ingest — recording of camera streams, stream copy only, by one of two engines behind
 * the same supervisor (stream.ts): a gst-launch child per stream (gst.ts: RTSP → depayload →
 * parse → fragmented MP4 on stdout, split into fragments), or the in-process native engine
 * (native/: RTSP client, RTP depacketizers, lib/mp4 muxer). Fragments go to the store's
 * SegmentWriter; stall watchdog, classified ends, capped backoff, per-stream status, gaps with
 * reasons.
 * Owns: pipelines, their processes and pidfile, stream status. Must not touch: segment files
 * or the index (lib/store does), camera discovery (edge/camera), HTTP (edge/api).
 */
export { StreamIngest, type FragmentSink, type StreamIngestOptions, type StreamStatus, type StreamState, type StreamSource, type BackoffOptions } from "./stream.ts";
export { classifyExit, gstSession } from "./gst.ts";
export { nativeSession } from "./native/session.ts";
export type { IngestEngine, IngestSession, SessionFactory, SessionHandlers, SessionParams } from "./source.ts";
export { describeStream, parseSdp, parseRtspUrl, ProbeError, type StreamDescription, type VideoCodec, type AudioCodec } from "./probe.ts";
export { pipelineArgs, recordsAudio, type PipelineSpec } from "./pipeline.ts";
export { PidFile } from "./pids.ts";
export { deferredSink } from "./deferred-sink.ts";
