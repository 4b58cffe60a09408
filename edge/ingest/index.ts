/**
 * edge/ingest — recording of camera streams: one supervised gst-launch child per stream
 * (RTSP → depayload → parse → fragmented MP4 on stdout, stream copy only), split into
 * fragments and handed to the store's SegmentWriter; stall watchdog, classified exits, capped
 * backoff, per-stream status, gaps with reasons.
 * Owns: pipelines, their processes and pidfile, stream status. Must not touch: segment files
 * or the index (lib/store does), camera discovery (edge/camera), HTTP (edge/api).
 */
export { StreamIngest, classifyExit, type FragmentSink, type StreamIngestOptions, type StreamStatus, type StreamState, type StreamSource, type BackoffOptions } from "./stream.ts";
export { describeStream, parseSdp, parseRtspUrl, ProbeError, type StreamDescription, type VideoCodec, type AudioCodec } from "./probe.ts";
export { pipelineArgs, recordsAudio, type PipelineSpec } from "./pipeline.ts";
export { PidFile } from "./pids.ts";
