/**
 * ONVIF client side of camera setup, through the npm `onvif` package: device information,
 * media profiles and their RTSP stream URIs. The package's callback API and xml2js quirks
 * (numbers out of numeric strings, single items not in arrays) stay inside this file.
 */
import { CameraError } from "./errors.ts";

export interface OnvifTarget {
  /** host, host:port, or a device service URL (http://host:port/onvif/device_service). */
  address: string;
  user?: string;
  password?: string;
  timeoutMs?: number;
}

export interface DeviceInfo {
  manufacturer: string;
  model: string;
  firmwareVersion: string;
  serialNumber: string;
  hardwareId: string;
}

export interface OnvifProfile {
  token: string;
  name: string;
  /** Video encoding as the camera names it: H264, H265, JPEG, MPEG4. */
  encoding: string;
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
  hasAudio: boolean;
  /** RTSP URI (RTP over TCP/RTSP), without credentials. */
  uri?: string;
}

export interface OnvifCamera {
  deviceUrl: string;
  info: DeviceInfo;
  profiles: OnvifProfile[];
  /** Picked from the H.264/H.265 profiles: main = largest, sub = smallest other one. */
  main: OnvifProfile;
  sub?: OnvifProfile;
}

const SUPPORTED = new Set(["H264", "H265", "HEVC"]);

export function parseAddress(address: string): { hostname: string; port: number; path: string; url: string } {
  const withScheme = /^[a-z]+:\/\//i.test(address) ? address : `http://${address}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new CameraError("invalid", `not a valid ONVIF address: '${address}' (expected host[:port] or http://host:port/onvif/device_service)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CameraError("invalid", `ONVIF address must be http(s), got ${u.protocol}`);
  const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  const path = u.pathname && u.pathname !== "/" ? u.pathname : "/onvif/device_service";
  return { hostname: u.hostname, port, path, url: `${u.protocol}//${u.host}${path}` };
}

/** Connects to an ONVIF device and reads its identity, profiles and stream URIs. */
export async function connectOnvif(target: OnvifTarget): Promise<OnvifCamera> {
  const a = parseAddress(target.address);
  const timeout = target.timeoutMs ?? 5000;
  // The `onvif` package and its XML stack (~50 modules, ~4 MB resident) load only when a camera is set up by ONVIF.
  const { Cam } = await import("onvif");
  const cam = new Cam({
    hostname: a.hostname,
    port: a.port,
    path: a.path,
    username: target.user,
    password: target.password,
    timeout,
    autoconnect: false,
    // The device may advertise service URLs for another interface; we reached it here.
    preserveAddress: true,
  });
  // The package's typings are narrower than what devices send; read results loosely.
  const loose = cam as unknown as {
    connect(cb: (err: Error | null) => void): void;
    getDeviceInformation(cb: (err: Error | null, data: Record<string, unknown>) => void): void;
    getProfiles(cb: (err: Error | null, data: unknown) => void): void;
    getStreamUri(opts: Record<string, string>, cb: (err: Error | null, data: Record<string, unknown>) => void): void;
  };
  const call = <T>(what: string, fn: (cb: (err: Error | null, data: T) => void) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new CameraError("unreachable", `ONVIF device ${a.url} did not answer ${what} within ${timeout} ms`)), timeout + 500);
      try {
        fn((err, data) => {
          clearTimeout(timer);
          if (err) reject(classify(err, what, a.url));
          else resolve(data);
        });
      } catch (e) {
        clearTimeout(timer);
        reject(classify(e as Error, what, a.url));
      }
    });

  await call<void>("connect", (cb) => loose.connect((err: Error | null) => cb(err, undefined)));
  const rawInfo = await call<Record<string, unknown>>("GetDeviceInformation", (cb) => loose.getDeviceInformation(cb));
  const info: DeviceInfo = {
    manufacturer: str(rawInfo.manufacturer),
    model: str(rawInfo.model),
    firmwareVersion: str(rawInfo.firmwareVersion),
    serialNumber: str(rawInfo.serialNumber),
    hardwareId: str(rawInfo.hardwareId),
  };
  const rawProfiles = await call<unknown>("GetProfiles", (cb) => loose.getProfiles(cb));
  const profiles = arr(rawProfiles).map(toProfile);
  if (profiles.length === 0) throw new CameraError("unsupported-codec", `ONVIF device ${a.url} has no media profiles`);
  const usable = profiles.filter((p) => SUPPORTED.has(p.encoding.toUpperCase()));
  if (usable.length === 0) {
    throw new CameraError(
      "unsupported-codec",
      `no profile of ${a.url} streams H.264 or H.265 (found: ${[...new Set(profiles.map((p) => p.encoding))].join(", ")}); recording is stream copy only`,
    );
  }
  for (const p of usable) {
    const r = await call<Record<string, unknown>>(`GetStreamUri(${p.token})`, (cb) =>
      loose.getStreamUri({ protocol: "RTSP", stream: "RTP-Unicast", profileToken: p.token }, cb),
    );
    const uri = str(r?.uri);
    if (uri) p.uri = uri;
  }
  const withUri = usable.filter((p) => p.uri).sort((x, y) => area(y) - area(x));
  if (withUri.length === 0) throw new CameraError("unsupported-codec", `ONVIF device ${a.url} returned no RTSP stream URI`);
  const main = withUri[0]!;
  const sub = withUri.length > 1 ? withUri[withUri.length - 1] : undefined;
  return { deviceUrl: a.url, info, profiles, main, ...(sub ? { sub } : {}) };
}

function area(p: OnvifProfile): number {
  return (p.width ?? 0) * (p.height ?? 0);
}

function toProfile(raw: unknown): OnvifProfile {
  const p = (raw ?? {}) as Record<string, any>;
  const token = str(p.$?.token ?? p.token);
  const vec = p.videoEncoderConfiguration ?? {};
  const res = vec.resolution ?? {};
  const rate = vec.rateControl ?? {};
  return {
    token,
    name: str(p.name) || token,
    encoding: str(vec.encoding) || "unknown",
    ...(num(res.width) !== undefined ? { width: num(res.width) } : {}),
    ...(num(res.height) !== undefined ? { height: num(res.height) } : {}),
    ...(num(rate.frameRateLimit) !== undefined ? { fps: num(rate.frameRateLimit) } : {}),
    ...(num(rate.bitrateLimit) !== undefined ? { bitrateKbps: num(rate.bitrateLimit) } : {}),
    hasAudio: !!p.audioEncoderConfiguration,
  };
}

/** xml2js gives a single child as an object and many as an array. */
function arr(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** xml2js turns numeric-looking strings into numbers (serials, tokens, firmware "1.0"). */
function str(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "object") return "";
  return String(v);
}

function num(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function classify(err: Error, what: string, url: string): CameraError {
  if (err instanceof CameraError) return err;
  const m = err.message ?? String(err);
  if (/NotAuthorized|Unauthorized|\b401\b|not authori[sz]ed|Sender not Authorized|authority failure/i.test(m)) {
    return new CameraError("auth-failed", `ONVIF device ${url} refused the credentials (${what}): ${m.slice(0, 200)}`);
  }
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|timeout|socket hang up|ENOTFOUND|EAI_AGAIN|Unable to connect/i.test(m)) {
    return new CameraError("unreachable", `ONVIF device ${url} is unreachable (${what}): ${m.slice(0, 200)}`);
  }
  return new CameraError("onvif-error", `ONVIF ${what} failed at ${url}: ${m.slice(0, 300)}`);
}
