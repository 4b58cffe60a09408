/**
 * A configured camera → the RTSP sources ingest records. Plain RTSP resolves without loading
 * the ONVIF client (a SOAP/XML stack): the edge loads only what recording needs before it
 * records (edge/main.ts); ONVIF cameras load it on first use.
 */
import { CameraError } from "./errors.ts";
import type { DeviceInfo, OnvifProfile } from "./onvif.ts";
import type { StreamKind } from "../../lib/store/types.ts";

/** How a camera is configured (edge config `cameras[]`, see edge/config.ts). */
export interface CameraSpec {
  id: string;
  name?: string;
  /** Plain RTSP: main (required) and sub stream URLs. */
  rtsp?: { main: string; sub?: string };
  /** ONVIF device: host[:port] or device service URL. */
  onvif?: { address: string };
  user?: string;
  password?: string;
}

export interface StreamEndpoint {
  url: string;
  user?: string;
  password?: string;
  /** From ONVIF, when known. */
  profile?: OnvifProfile;
}

/** A camera resolved to what ingest needs. */
export interface Camera {
  id: string;
  name: string;
  source: "rtsp" | "onvif";
  streams: Partial<Record<StreamKind, StreamEndpoint>> & { main: StreamEndpoint };
  device?: DeviceInfo;
  onvifUrl?: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Resolves a configured camera: RTSP URLs as given, or ONVIF profiles → stream URIs. */
export async function resolveCamera(spec: CameraSpec, opts: { timeoutMs?: number } = {}): Promise<Camera> {
  if (!ID.test(spec.id)) throw new CameraError("invalid", `camera id '${spec.id}' must be 1-64 letters, digits, '-' or '_'`);
  if (!!spec.rtsp === !!spec.onvif) {
    throw new CameraError("invalid", `camera '${spec.id}': give either rtsp.main (URL) or onvif.address, not ${spec.rtsp ? "both" : "neither"}`);
  }
  if (spec.rtsp) {
    const main = rtspEndpoint(spec.id, "main", spec.rtsp.main, spec);
    const sub = spec.rtsp.sub ? rtspEndpoint(spec.id, "sub", spec.rtsp.sub, spec) : undefined;
    return { id: spec.id, name: spec.name ?? spec.id, source: "rtsp", streams: { main, ...(sub ? { sub } : {}) } };
  }
  const { connectOnvif } = await import("./onvif.ts");
  const dev = await connectOnvif({ address: spec.onvif!.address, user: spec.user, password: spec.password, timeoutMs: opts.timeoutMs });
  const ep = (p: OnvifProfile): StreamEndpoint => ({ url: p.uri!, user: spec.user, password: spec.password, profile: p });
  return {
    id: spec.id,
    name: spec.name ?? (dev.info.model ? `${dev.info.manufacturer} ${dev.info.model}`.trim() : spec.id),
    source: "onvif",
    streams: { main: ep(dev.main), ...(dev.sub ? { sub: ep(dev.sub) } : {}) },
    device: dev.info,
    onvifUrl: dev.deviceUrl,
  };
}

function rtspEndpoint(id: string, kind: StreamKind, url: string, spec: CameraSpec): StreamEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CameraError("invalid", `camera '${id}': rtsp.${kind} is not a URL: '${url}'`);
  }
  if (u.protocol !== "rtsp:") throw new CameraError("invalid", `camera '${id}': rtsp.${kind} must be an rtsp:// URL, got ${u.protocol}//`);
  return { url, ...(spec.user !== undefined ? { user: spec.user } : {}), ...(spec.password !== undefined ? { password: spec.password } : {}) };
}
