/**
 * WS-Discovery Probe (SOAP over UDP): finds ONVIF devices. By default it asks the standard
 * multicast group 239.255.255.250:3702; tests and sites with a known responder give a unicast
 * address and port instead.
 */
import { createSocket } from "node:dgram";
import { randomUUID } from "node:crypto";

export interface DiscoveredDevice {
  /** Endpoint reference (urn:uuid:…), stable per device. */
  endpoint: string;
  /** Device service URLs. */
  xaddrs: string[];
  scopes: string[];
  /** From the onvif://www.onvif.org/name/… scope, if any. */
  name?: string;
  hardware?: string;
}

export interface ProbeOptions {
  address?: string;
  port?: number;
  timeoutMs?: number;
}

const WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
const WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery";

export async function discover(opts: ProbeOptions = {}): Promise<DiscoveredDevice[]> {
  const address = opts.address ?? "239.255.255.250";
  const port = opts.port ?? 3702;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`discovery port must be 1..65535, got ${port}`);
  const messageId = `urn:uuid:${randomUUID()}`;
  const probe =
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="${WSA}" xmlns:d="${WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">` +
    `<s:Header><a:MessageID>${messageId}</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>` +
    `<a:Action>${WSD}/Probe</a:Action></s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>`;
  const sock = createSocket({ type: "udp4", reuseAddr: true });
  const found = new Map<string, DiscoveredDevice>();
  sock.on("message", (msg) => {
    const xml = msg.toString("utf8");
    const relates = tag(xml, "RelatesTo");
    if (relates && relates !== messageId) return;
    if (!/ProbeMatch\b/.test(xml)) return;
    const endpoint = tag(xml, "Address");
    const xaddrs = (tag(xml, "XAddrs") ?? "").split(/\s+/).filter(Boolean);
    if (!endpoint || xaddrs.length === 0) return;
    const scopes = (tag(xml, "Scopes") ?? "").split(/\s+/).filter(Boolean);
    const scope = (k: string) => {
      const s = scopes.find((x) => x.startsWith(`onvif://www.onvif.org/${k}/`));
      return s ? decodeURIComponent(s.slice(`onvif://www.onvif.org/${k}/`.length)) : undefined;
    };
    const name = scope("name");
    const hardware = scope("hardware");
    found.set(endpoint, { endpoint, xaddrs, scopes, ...(name ? { name } : {}), ...(hardware ? { hardware } : {}) });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, () => resolve());
    });
    await new Promise<void>((resolve, reject) => sock.send(Buffer.from(probe), port, address, (e) => (e ? reject(e) : resolve())));
    await Bun.sleep(opts.timeoutMs ?? 1500);
  } finally {
    sock.close();
  }
  return [...found.values()];
}

function tag(xml: string, name: string): string | undefined {
  const m = new RegExp(`<(?:[\\w.-]+:)?${name}\\b[^>]*>([\\s\\S]*?)</(?:[\\w.-]+:)?${name}>`).exec(xml);
  return m ? m[1]!.trim() : undefined;
}
