/**
 * Words for people: what the screens say instead of ids, tokens and HTTP codes. Camera and
 * site display names (never `bus-102-728714.cam1` where a name is known), one sentence per gap
 * reason and per event kind, and error messages without status codes or endpoints. Screens
 * call these helpers rather than formatting ids themselves.
 */
import type { Camera, Site } from "../model.ts";

/** A site's name; for an id central no longer lists, a neutral phrase (never the raw id alone). */
export function siteName(sites: readonly Site[], id: string | null | undefined): string {
  if (!id) return "—";
  return sites.find((s) => s.id === id)?.name ?? "an unknown site";
}

/**
 * A camera's name as people know it. Central camera ids are `<site>.<camera>`; an alarm or job
 * may carry the site and the edge's camera id apart. Falls back to "camera cam1 of bus-102"
 * (site name, not site id) when the camera is not in the list.
 */
export function cameraName(cameras: readonly Camera[] | null, sites: readonly Site[], id: string | null | undefined, siteId?: string | null): string {
  if (!id) return "—";
  const full = siteId && !id.startsWith(`${siteId}.`) ? `${siteId}.${id}` : id;
  const cam = (cameras ?? []).find((c) => c.id === full || c.id === id);
  if (cam) return cam.name;
  const dot = full.lastIndexOf(".");
  if (dot > 0) return `camera ${full.slice(dot + 1)} of ${siteName(sites, full.slice(0, dot))}`;
  return `camera ${id}`;
}

/** "bus-102 camera 1 at bus-102": the camera's name, with its site's when the name does not say it. */
export function cameraWithSite(cameras: readonly Camera[] | null, sites: readonly Site[], id: string | null | undefined, siteId?: string | null): string {
  const name = cameraName(cameras, sites, id, siteId);
  const sid = siteId ?? (id && id.includes(".") ? id.slice(0, id.lastIndexOf(".")) : null);
  const site = sid ? sites.find((s) => s.id === sid)?.name : undefined;
  return site && !name.includes(site) ? `${name} (${site})` : name;
}

/** Why recording stopped, as a sentence (lib/store GapReason, plus central's own). */
const GAP_SENTENCES: Record<string, string> = {
  "camera-offline": "The camera could not be reached.",
  stall: "The camera was connected but sent no picture.",
  restart: "The recorder restarted the camera's stream (a setting changed).",
  "disk-full": "The recorder's disk was full.",
  "disk-slow": "The recorder's disk fell behind; some pictures were dropped.",
  "clock-step": "The recorder's clock jumped.",
  resync: "The camera's clock disagreed with the recorder's; recording was re-aligned.",
  crash: "The recorder stopped unexpectedly.",
  "auth-failed": "The camera refused the recorder's user name or password.",
  "unsupported-codec": "The camera sends a video format the recorder cannot store.",
  stopped: "Recording was stopped (recorder shut down or camera disabled).",
  retention: "The footage was deleted by the retention rules.",
};

/** A gap reason ("camera-offline", or "camera-offline: detail") as a sentence. */
export function gapSentence(reason: string): string {
  const i = reason.indexOf(": ");
  const code = i > 0 ? reason.slice(0, i) : reason;
  const detail = i > 0 ? reason.slice(i + 2) : "";
  const s = GAP_SENTENCES[code] ?? "Nothing was recorded.";
  return detail ? `${s} (${detail})` : s;
}

const EVENT_WORDS: Record<string, string> = {
  "camera-offline": "Camera offline",
  "camera-online": "Camera back online",
  motion: "Motion",
  tamper: "Camera tampering",
  "disk-full": "Disk full",
  "storage-error": "Storage error",
  "link-down": "Link down",
  "link-up": "Link restored",
  "input-active": "Alarm input",
  "panic-button": "Panic button",
};

/** An event kind token ("camera-offline", "outpost.site-online") as words. */
export function eventWords(kind: string): string {
  if (EVENT_WORDS[kind]) return EVENT_WORDS[kind]!;
  const k = kind.replace(/^outpost\./, "").replace(/[-_.]+/g, " ").trim();
  return k ? k[0]!.toUpperCase() + k.slice(1) : kind;
}

/** An error as a sentence for the person who met it: the server's sentence, or what to do. */
export function errorSentence(e: unknown): string {
  // Duck-typed ApiError (web/api.ts), so this file has no browser-only imports (unit tests).
  const a = e as { status?: unknown; message?: string; missing?: boolean };
  if (a && typeof a.status === "number" && typeof a.message === "string") {
    const status = a.status;
    if (status === 403) return a.message.startsWith("You ") ? a.message : "You do not have the right to do this.";
    if (status === 0) return a.message;
    if (a.missing) return "This server does not offer this.";
    if (/^\d{3} /.test(a.message)) return status >= 500 ? "The server failed to do this; try again, and tell the administrator if it keeps failing." : "The server refused this.";
  }
  return (e as Error)?.message ?? String(e);
}
