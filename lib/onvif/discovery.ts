/**
 * WS-Discovery (SOAP over UDP): a responder that answers Probe with one ProbeMatches per
 * device (camsim's cameras, central's ONVIF bridge), and `probe()`, a small unicast client.
 * Loopback only unless the caller names an interface address explicitly (`interfaceAddress`):
 * then it also joins the WS-Discovery multicast group 239.255.255.250 on that interface.
 */
import { createSocket, type Socket } from "node:dgram";
import { randomUUID } from "node:crypto";
import { text, xmlEscape } from "./soap.ts";

export interface DiscoveredDevice {
  /** Endpoint reference, e.g. urn:uuid:… */
  address: string;
  /** Device service URLs (XAddrs). */
  xaddrs: string[];
  scopes: string[];
  types: string[];
}

export interface DiscoveryTarget {
  endpoint: string;
  xaddr: string;
  name: string;
  /** Extra scope URIs (default: hardware camsim). */
  scopes?: string[];
}

const MULTICAST = "239.255.255.250";

const WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
const WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
const LOOPBACK = /^127\./;

export interface DiscoveryResponder {
  port: number;
  close(): Promise<void>;
}

export function startDiscovery(host: string, port: number, targets: () => DiscoveryTarget[], o: { interfaceAddress?: boolean } = {}): Promise<DiscoveryResponder> {
  const onLan = !!o.interfaceAddress && !LOOPBACK.test(host);
  if (!LOOPBACK.test(host) && !onLan) return Promise.reject(new Error(`WS-Discovery binds to loopback only, not ${host}`));
  const sock = createSocket({ type: "udp4", reuseAddr: onLan });
  sock.on("message", (msg, rinfo) => {
    // Loopback responders never answer off-box.
    if (!onLan && !LOOPBACK.test(rinfo.address)) return;
    if (msg.length > 64 * 1024) return;
    const xml = msg.toString("utf8");
    if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return;
    if (!/<(?:[\w.-]+:)?Probe\b/.test(xml)) return;
    const types = text(xml, "Types") ?? "";
    if (types && !/NetworkVideoTransmitter|Device/.test(types)) return;
    const relatesTo = text(xml, "MessageID") ?? "";
    for (const t of targets()) {
      const reply = Buffer.from(probeMatch(t, relatesTo));
      sock.send(reply, rinfo.port, rinfo.address);
    }
  });
  return new Promise((resolve, reject) => {
    sock.once("error", reject);
    sock.bind(port, onLan ? undefined : host, () => {
      sock.off("error", reject);
      if (onLan) sock.addMembership(MULTICAST, host);
      sock.on("error", () => {});
      resolve({ port: sock.address().port, close: () => new Promise<void>((r) => sock.close(() => r())) });
    });
  });
}

function probeMatch(t: DiscoveryTarget, relatesTo: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="${WSA}" xmlns:d="${WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">` +
    `<s:Header><a:MessageID>urn:uuid:${randomUUID()}</a:MessageID><a:RelatesTo>${xmlEscape(relatesTo)}</a:RelatesTo>` +
    `<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:Action>${WSD}/ProbeMatches</a:Action></s:Header>` +
    `<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>${xmlEscape(t.endpoint)}</a:Address></a:EndpointReference>` +
    `<d:Types>dn:NetworkVideoTransmitter</d:Types>` +
    `<d:Scopes>${xmlEscape(["onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming", `onvif://www.onvif.org/name/${encodeURIComponent(t.name)}`, ...(t.scopes ?? ["onvif://www.onvif.org/hardware/camsim"])].join(" "))}</d:Scopes>` +
    `<d:XAddrs>${xmlEscape(t.xaddr)}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>`
  );
}

/**
 * Sends one WS-Discovery Probe to address:port (unicast) and collects ProbeMatches for timeoutMs.
 * Only loopback addresses are allowed unless allowNonLoopback is set by the caller.
 */
export async function probe(address: string, port: number, opts: { timeoutMs?: number; allowNonLoopback?: boolean } = {}): Promise<DiscoveredDevice[]> {
  if (!opts.allowNonLoopback && !LOOPBACK.test(address)) throw new Error(`probe: ${address} is not a loopback address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`probe: invalid port ${port}`);
  const messageId = `urn:uuid:${randomUUID()}`;
  const req =
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="${WSA}" xmlns:d="${WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">` +
    `<s:Header><a:MessageID>${messageId}</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To><a:Action>${WSD}/Probe</a:Action></s:Header>` +
    `<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>`;
  const sock: Socket = createSocket("udp4");
  const found = new Map<string, DiscoveredDevice>();
  sock.on("message", (msg) => {
    const xml = msg.toString("utf8");
    if (text(xml, "RelatesTo") !== messageId) return;
    const addr = text(xml, "Address");
    const xaddrs = (text(xml, "XAddrs") ?? "").split(/\s+/).filter(Boolean);
    if (!addr || xaddrs.length === 0) return;
    found.set(addr, {
      address: addr,
      xaddrs,
      scopes: (text(xml, "Scopes") ?? "").split(/\s+/).filter(Boolean),
      types: (text(xml, "Types") ?? "").split(/\s+/).filter(Boolean),
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, LOOPBACK.test(address) ? "127.0.0.1" : undefined, () => resolve());
    });
    await new Promise<void>((resolve, reject) => sock.send(Buffer.from(req), port, address, (e) => (e ? reject(e) : resolve())));
    await Bun.sleep(opts.timeoutMs ?? 1000);
  } finally {
    sock.close();
  }
  return [...found.values()];
}
