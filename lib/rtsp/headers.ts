/**
 * The RTSP headers with structure (RFC 2326 §12): Transport (§12.39), Session with its timeout
 * (§12.37) and RTP-Info (§12.33), parsed leniently and formatted strictly.
 */

export interface TransportSpec {
  /** e.g. RTP/AVP or RTP/AVP/TCP (upper case). */
  protocol: string;
  /** TCP when the protocol says so, else UDP. */
  lower: "TCP" | "UDP";
  unicast: boolean;
  /** Interleaved RTP and RTCP channels (0–255). */
  interleaved?: [number, number];
  clientPort?: [number, number];
  serverPort?: [number, number];
  /** 8 hex digits, upper case. */
  ssrc?: string;
  mode?: string;
}

function range(v: string | undefined, max: number): [number, number] | undefined {
  const m = v !== undefined ? /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v) : null;
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a + 1;
  return a <= max && b <= max ? [a, b] : undefined;
}

/** The client's alternatives in order of preference. Out-of-range channels or ports are left out. */
export function parseTransport(value: string): TransportSpec[] {
  return value
    .split(",")
    .map((alt) => alt.split(";").map((p) => p.trim()))
    .filter((parts) => /^[A-Za-z]+\/[A-Za-z]+(?:\/[A-Za-z]+)?$/.test(parts[0]!))
    .map((parts) => {
      const protocol = parts[0]!.toUpperCase();
      const params = new Map<string, string>();
      for (const p of parts.slice(1)) {
        const i = p.indexOf("=");
        params.set((i < 0 ? p : p.slice(0, i)).toLowerCase(), i < 0 ? "" : p.slice(i + 1));
      }
      const spec: TransportSpec = { protocol, lower: protocol.endsWith("/TCP") ? "TCP" : "UDP", unicast: !params.has("multicast") };
      const il = range(params.get("interleaved"), 255);
      if (il) spec.interleaved = il;
      const cp = range(params.get("client_port"), 65535);
      if (cp) spec.clientPort = cp;
      const sp = range(params.get("server_port"), 65535);
      if (sp) spec.serverPort = sp;
      const ssrc = params.get("ssrc");
      if (ssrc && /^[0-9A-Fa-f]{1,8}$/.test(ssrc)) spec.ssrc = ssrc.toUpperCase().padStart(8, "0");
      const mode = params.get("mode");
      if (mode) spec.mode = mode.replace(/^"|"$/g, "").toUpperCase();
      return spec;
    });
}

export function formatTransport(t: TransportSpec): string {
  const parts = [t.protocol, t.unicast ? "unicast" : "multicast"];
  if (t.interleaved) parts.push(`interleaved=${t.interleaved[0]}-${t.interleaved[1]}`);
  if (t.clientPort) parts.push(`client_port=${t.clientPort[0]}-${t.clientPort[1]}`);
  if (t.serverPort) parts.push(`server_port=${t.serverPort[0]}-${t.serverPort[1]}`);
  if (t.ssrc) parts.push(`ssrc=${t.ssrc}`);
  if (t.mode) parts.push(`mode=${t.mode}`);
  return parts.join(";");
}

/** `id;timeout=N` → id and timeout in seconds (undefined when absent or not a number). */
export function parseSession(value: string): { id: string; timeoutS?: number } {
  const [id, ...params] = value.split(";");
  const t = params.map((x) => /^\s*timeout\s*=\s*(\d{1,9})\s*$/i.exec(x)).find(Boolean);
  return { id: id!.trim(), ...(t ? { timeoutS: Number(t[1]) } : {}) };
}

export function formatSession(id: string, timeoutS?: number): string {
  return timeoutS === undefined ? id : `${id};timeout=${timeoutS}`;
}

export interface RtpInfo {
  url: string;
  seq?: number;
  rtptime?: number;
}

/** RTP-Info's per-stream entries; entries without a url are left out. */
export function parseRtpInfo(value: string): RtpInfo[] {
  return value
    .split(",")
    .map((part) => {
      const out: RtpInfo = { url: "" };
      for (const kv of part.split(";")) {
        const i = kv.indexOf("=");
        if (i < 0) continue;
        const k = kv.slice(0, i).trim().toLowerCase();
        const v = kv.slice(i + 1).trim();
        if (k === "url") out.url = v;
        else if (k === "rtptime" && /^\d{1,10}$/.test(v)) out.rtptime = Number(v);
        else if (k === "seq" && /^\d{1,5}$/.test(v)) out.seq = Number(v);
      }
      return out;
    })
    .filter((x) => x.url);
}

export function formatRtpInfo(entries: readonly RtpInfo[]): string {
  return entries.map((e) => [`url=${e.url}`, ...(e.seq !== undefined ? [`seq=${e.seq}`] : []), ...(e.rtptime !== undefined ? [`rtptime=${e.rtptime}`] : [])].join(";")).join(",");
}
