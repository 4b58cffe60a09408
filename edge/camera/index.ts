/**
 * edge/camera — the camera model of the edge recorder: a camera is added by RTSP URL(s) or by
 * ONVIF (WS-Discovery, or address + credentials → device info, profiles, main/sub stream
 * URIs), and resolves to the RTSP sources that ingest records.
 * Owns: camera resolution, ONVIF client use, discovery. Must not touch: recording
 * (edge/ingest), the store (lib/store), the HTTP API (edge/api).
 */
export { CameraError, type CameraErrorCode } from "./errors.ts";
export { connectOnvif, parseAddress, type DeviceInfo, type OnvifCamera, type OnvifProfile, type OnvifTarget } from "./onvif.ts";
export { discover, type DiscoveredDevice, type ProbeOptions } from "./discovery.ts";
export { resolveCamera, type CameraSpec, type StreamEndpoint, type Camera } from "./resolve.ts";
