/**
 * The ONVIF bridge listener: one ONVIF device per site at `/onvif/<site>/device_service`
 * (device, media, events, search, replay services under the same prefix), answering with
 * central's users and rights. Streams point at RTSP out; replay at RTSP out's replay path.
 */
import type { Clock } from "../../lib/clock.ts";
import { systemClock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import {
  deviceInformation, envelope, faultResponse, mediaUri, parseSoap, parseTermination, readBody, scopes, service, SoapFault, soapResponse, startDiscovery, systemDateAndTime, text, xmlEscape, xsDateTime,
  type DiscoveryResponder,
} from "../../lib/onvif/index.ts";
import type { AuditInput } from "../audit/index.ts";
import type { Rights, Subject } from "../rights/index.ts";
import type { OnvifCredentials } from "./credentials.ts";
import { profileXml, parseProfileToken, videoSourcesXml, type BridgeCamera, type StreamKind } from "./profiles.ts";
import { notificationXml, PullPoints, type BridgeEvent } from "./pullpoints.ts";
import { recordingInformationXml, span, type Holding, type RecordingView } from "./recordings.ts";

export interface OnvifBridgeOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** WS-Discovery UDP port on `host` (3702 in the field); undefined = off. */
  discoveryPort?: number;
  credentials: OnvifCredentials;
  rights: Pick<Rights, "has" | "hasAny" | "canSeeCamera">;
  cameras(): Promise<BridgeCamera[]>;
  /** The sites that have cameras, without building camera views (the 10 s refresh of WS-Discovery's list; a view asks for other nodes' presence). Default: from cameras(). */
  cameraSites?(): Promise<string[]>;
  /** RTSP out URL of a live camera stream. */
  streamUri(centralId: string, stream: StreamKind): string;
  /** RTSP out URL replaying a camera's recording. */
  replayUri(centralId: string, stream: StreamKind): string;
  /** Recorded ranges (edge and central merged). */
  holdings(centralId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<Holding[]>;
  /** JPEG of a camera's latest picture, undefined when none. */
  snapshot?(centralId: string): Promise<Uint8Array | undefined>;
  audit?(a: AuditInput): void;
  log: Logger;
  clock?: Clock;
  /** Upper bound for one PullMessages long poll; default 30 s. */
  maxPullWaitMs?: number;
}

export interface OnvifBridge {
  port: number;
  /** http://host:port */
  url: string;
  deviceUrl(siteId: string): string;
  discoveryPort?: number;
  /** Offer an event to PullPoint subscribers (filtered per subscriber). */
  publish(e: BridgeEvent): number;
  close(): Promise<void>;
}

const PRE_AUTH = new Set(["GetSystemDateAndTime"]);
const SUBSCRIPTION_TTL_MS = 60_000;
const NS = {
  device: "http://www.onvif.org/ver10/device/wsdl",
  media: "http://www.onvif.org/ver10/media/wsdl",
  events: "http://www.onvif.org/ver10/events/wsdl",
  search: "http://www.onvif.org/ver10/search/wsdl",
  replay: "http://www.onvif.org/ver10/replay/wsdl",
};

class Denied extends SoapFault {
  constructor(reason: string) {
    super("Sender", "ter:NotAuthorized", reason, 400);
  }
}

export async function startOnvifBridge(o: OnvifBridgeOptions): Promise<OnvifBridge> {
  const clock = o.clock ?? systemClock;
  const log = o.log.child({ component: "central.onvif" });
  const pulls = new PullPoints(() => clock.now());
  const searches = new Map<string, { siteId: string; user: string; tokens: string[]; expires: number }>();
  const maxPull = o.maxPullWaitMs ?? 30_000;
  let base = "";

  const server = Bun.serve({
    hostname: o.host,
    port: o.port,
    idleTimeout: 120,
    fetch: async (req, srv) => {
      const url = new URL(req.url);
      const client = srv.requestIP(req)?.address ?? "unknown";
      const m = /^\/onvif\/([^/]+)\/(device_service|media_service|events_service|search_service|replay_service|subscription\/[\w-]+|snapshot\/[^/]+\.jpg)$/.exec(url.pathname);
      try {
        if (!m) return new Response("ONVIF bridge: POST SOAP requests to /onvif/<site>/device_service\n", { status: 404 });
        const siteId = decodeURIComponent(m[1]!);
        const svc = m[2]!;
        if (svc.startsWith("snapshot/")) return await snapshot(req, client, siteId, decodeURIComponent(svc.slice(9, -4)));
        if (req.method !== "POST") return new Response("ONVIF bridge: POST SOAP requests\n", { status: 405 });
        const { xml, op } = parseSoap(await readBody(req));
        let sub: Subject | undefined;
        if (!PRE_AUTH.has(op)) {
          const a = await o.credentials.authenticate(req.method, req.headers.get("authorization"), xml, client, clock.now());
          if (a.kind !== "ok") {
            if (a.kind === "bad") {
              log.warn("ONVIF login failed", { user: a.user, client, why: a.why });
              o.audit?.({ user: a.user ?? "", action: "login-failed", outcome: "denied", detail: { client, via: "onvif" } });
            }
            return faultResponse("Sender", "ter:NotAuthorized", "Sender not authorized", 401, { "www-authenticate": o.credentials.http.challenge(clock.now()) });
          }
          sub = a.subject;
        }
        // After authentication, so an anonymous caller cannot tell which sites exist; an unknown
        // site and one the user may see nothing of get the same fault.
        const cams = (await o.cameras()).filter((c) => c.siteId === siteId);
        if (sub && (!cams.length || (!o.rights.hasAny(sub, { site: siteId }) && !cams.some((c) => o.rights.canSeeCamera(sub!, c.id, siteId))))) throw new Denied(`User ${sub.user} has no rights at site ${siteId}, or there is no such site`);
        const visible = sub ? cams.filter((c) => o.rights.canSeeCamera(sub!, c.id, siteId)) : [];
        const ctx: Ctx = { siteId, sub: sub!, xml, cams: visible, client };
        if (svc.startsWith("subscription/")) return await subscriptionOp(op, svc.slice(13), ctx);
        return await handle(op, ctx);
      } catch (e) {
        if (e instanceof SoapFault) return e.response();
        log.error("ONVIF request failed", { path: url.pathname, err: (e as Error).message });
        return faultResponse("Receiver", "ter:Action", "Internal error");
      }
    },
  });
  base = `http://${o.host === "0.0.0.0" ? "127.0.0.1" : o.host}:${server.port}`;
  const xaddr = (siteId: string, s: string) => `${base}/onvif/${encodeURIComponent(siteId)}/${s}`;

  interface Ctx {
    siteId: string;
    sub: Subject;
    xml: string;
    cams: BridgeCamera[];
    client: string;
  }

  const ok = (body: string) => soapResponse(envelope(body));

  function camera(ctx: Ctx, channel: string | undefined, right: "view-live" | "playback"): BridgeCamera {
    const c = ctx.cams.find((x) => x.channel === channel);
    if (!c) throw new SoapFault("Sender", "ter:InvalidArgVal", `ter:NoProfile: no camera ${channel ?? ""} at site ${ctx.siteId}`);
    if (!o.rights.has(ctx.sub, right, { site: ctx.siteId, camera: c.id })) {
      o.audit?.({ user: ctx.sub.user, action: right, siteId: ctx.siteId, cameraId: c.id, outcome: "denied", detail: { via: "onvif", client: ctx.client } });
      throw new Denied(`You do not have the '${right}' right for camera ${c.id}`);
    }
    return c;
  }

  async function recording(c: BridgeCamera): Promise<RecordingView> {
    const now = clock.now();
    const tracks: RecordingView["tracks"] = [];
    for (const stream of ["main", "sub"] as const) {
      const ranges = await o.holdings(c.id, stream, 0, now + 60_000);
      if (ranges.length) tracks.push({ stream, ranges });
    }
    return { camera: c, tracks };
  }

  async function handle(op: string, ctx: Ctx): Promise<Response> {
    const { siteId, xml } = ctx;
    const now = clock.now();
    switch (op) {
      case "GetSystemDateAndTime":
        return ok(systemDateAndTime(now));
      case "GetCapabilities":
        return ok(
          `<tds:GetCapabilitiesResponse><tds:Capabilities>` +
            `<tt:Device><tt:XAddr>${xaddr(siteId, "device_service")}</tt:XAddr><tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>false</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade><tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System></tt:Device>` +
            `<tt:Events><tt:XAddr>${xaddr(siteId, "events_service")}</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>` +
            `<tt:Media><tt:XAddr>${xaddr(siteId, "media_service")}</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>` +
            `<tt:Extension><tt:Search><tt:XAddr>${xaddr(siteId, "search_service")}</tt:XAddr><tt:MetadataSearch>false</tt:MetadataSearch></tt:Search><tt:Replay><tt:XAddr>${xaddr(siteId, "replay_service")}</tt:XAddr></tt:Replay></tt:Extension>` +
            `</tds:Capabilities></tds:GetCapabilitiesResponse>`,
        );
      case "GetServices": {
        const caps = text(xml, "IncludeCapability") === "true";
        return ok(
          `<tds:GetServicesResponse>` +
            service(NS.device, xaddr(siteId, "device_service"), `<tds:Capabilities><tds:System DiscoveryResolve="false" DiscoveryBye="false" RemoteDiscovery="false"/></tds:Capabilities>`, caps) +
            service(NS.media, xaddr(siteId, "media_service"), `<trt:Capabilities SnapshotUri="true" Rotation="false"><trt:ProfileCapabilities MaximumNumberOfProfiles="${2 * ctx.cams.length}"/><trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true"/></trt:Capabilities>`, caps) +
            service(NS.events, xaddr(siteId, "events_service"), `<tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true" WSPausableSubscriptionManagerInterfaceSupport="false" MaxPullPoints="16"/>`, caps) +
            service(NS.search, xaddr(siteId, "search_service"), `<tse:Capabilities MetadataSearch="false" GeneralStartEvents="false"/>`, caps) +
            service(NS.replay, xaddr(siteId, "replay_service"), `<trp:Capabilities ReversePlayback="false" RTP_RTSP_TCP="true" SessionTimeoutRange="60 60"/>`, caps) +
            `</tds:GetServicesResponse>`,
        );
      }
      case "GetDeviceInformation":
        return ok(deviceInformation({ manufacturer: "Outpost", model: "Outpost central bridge", firmware: "outpost-1", serial: siteId, hardwareId: "outpost-central" }));
      case "GetScopes":
        return ok(scopes(["onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming", "onvif://www.onvif.org/Profile/G", "onvif://www.onvif.org/Profile/T", `onvif://www.onvif.org/name/${encodeURIComponent(siteId)}`, "onvif://www.onvif.org/hardware/outpost-central"]));
      case "GetHostname":
        return ok(`<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP><tt:Name>${xmlEscape(siteId)}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>`);
      case "GetVideoSources":
        return ok(videoSourcesXml(ctx.cams));
      case "GetProfiles":
        return ok(`<trt:GetProfilesResponse>${ctx.cams.map((c) => profileXml(c, "main", "Profiles") + profileXml(c, "sub", "Profiles")).join("")}</trt:GetProfilesResponse>`);
      case "GetProfile": {
        const p = parseProfileToken(text(xml, "ProfileToken"));
        const c = ctx.cams.find((x) => x.channel === p?.channel);
        if (!p || !c) throw new SoapFault("Sender", "ter:InvalidArgVal", "ter:NoProfile: profile token must be <camera>.main or <camera>.sub");
        return ok(`<trt:GetProfileResponse>${profileXml(c, p.stream, "Profile")}</trt:GetProfileResponse>`);
      }
      case "GetStreamUri": {
        const p = parseProfileToken(text(xml, "ProfileToken"));
        const c = camera(ctx, p?.channel, "view-live");
        return ok(`<trt:GetStreamUriResponse>${mediaUri(o.streamUri(c.id, p!.stream))}</trt:GetStreamUriResponse>`);
      }
      case "GetSnapshotUri": {
        const p = parseProfileToken(text(xml, "ProfileToken"));
        const c = camera(ctx, p?.channel, "view-live");
        return ok(`<trt:GetSnapshotUriResponse>${mediaUri(xaddr(siteId, `snapshot/${encodeURIComponent(c.channel)}.jpg`))}</trt:GetSnapshotUriResponse>`);
      }
      case "GetServiceCapabilities":
        return ok(`<tev:GetServiceCapabilitiesResponse><tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true" WSPausableSubscriptionManagerInterfaceSupport="false" MaxPullPoints="16"/></tev:GetServiceCapabilitiesResponse>`);
      case "GetEventProperties":
        return ok(eventProperties());
      case "CreatePullPointSubscription": {
        const sub = ctx.sub;
        const ttl = Math.min(parseTermination(text(xml, "InitialTerminationTime"), now, SUBSCRIPTION_TTL_MS), 3600_000);
        const may = (e: BridgeEvent) => (e.cameraId ? o.rights.canSeeCamera(sub, e.cameraId, e.siteId) : o.rights.hasAny(sub, { site: e.siteId }));
        const s = pulls.create(siteId, sub.user, may, ttl);
        if (!s) throw new SoapFault("Receiver", "ter:Action", "Too many PullPoint subscriptions; unsubscribe some first", 503);
        return ok(
          `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${xaddr(siteId, `subscription/${s.id}`)}</wsa:Address></tev:SubscriptionReference>` +
            `<wsnt:CurrentTime>${xsDateTime(now)}</wsnt:CurrentTime><wsnt:TerminationTime>${xsDateTime(s.expires)}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`,
        );
      }
      // Profile G: search
      case "GetRecordingSummary": {
        const views = await Promise.all(ctx.cams.filter((c) => o.rights.has(ctx.sub, "playback", { site: siteId, camera: c.id })).map(recording));
        const spans = views.map(span).filter((s) => s.from !== undefined);
        const from = spans.length ? Math.min(...spans.map((s) => s.from!)) : now;
        const to = spans.length ? Math.max(...spans.map((s) => s.to!)) : now;
        return ok(`<tse:GetRecordingSummaryResponse><tse:Summary><tt:DataFrom>${xsDateTime(from)}</tt:DataFrom><tt:DataUntil>${xsDateTime(to)}</tt:DataUntil><tt:NumberRecordings>${spans.length}</tt:NumberRecordings></tse:Summary></tse:GetRecordingSummaryResponse>`);
      }
      case "FindRecordings": {
        for (const [k, v] of searches) if (v.expires < now) searches.delete(k);
        if (searches.size > 1000) throw new SoapFault("Receiver", "ter:Action", "Too many open searches", 503);
        const token = crypto.randomUUID();
        const tokens = ctx.cams.filter((c) => o.rights.has(ctx.sub, "playback", { site: siteId, camera: c.id })).map((c) => c.channel);
        const keep = Math.min(parseTermination(text(xml, "KeepAliveTime"), now, 60_000), 600_000);
        searches.set(token, { siteId, user: ctx.sub.user, tokens, expires: now + keep });
        return ok(`<tse:FindRecordingsResponse><tse:SearchToken>${token}</tse:SearchToken></tse:FindRecordingsResponse>`);
      }
      case "GetRecordingSearchResults": {
        const s = searches.get(text(xml, "SearchToken") ?? "");
        if (!s || s.siteId !== siteId || s.user !== ctx.sub.user) throw new SoapFault("Sender", "ter:InvalidArgVal", "ter:InvalidToken: unknown or expired search");
        const views = await Promise.all(ctx.cams.filter((c) => s.tokens.includes(c.channel)).map(recording));
        searches.delete(text(xml, "SearchToken")!);
        return ok(
          `<tse:GetRecordingSearchResultsResponse><tse:ResultList><tt:SearchState>Completed</tt:SearchState>` +
            views.filter((v) => v.tracks.length).map((v) => recordingInformationXml(v, "tt:RecordingInformation", now)).join("") +
            `</tse:ResultList></tse:GetRecordingSearchResultsResponse>`,
        );
      }
      case "EndSearch":
        searches.delete(text(xml, "SearchToken") ?? "");
        return ok(`<tse:EndSearchResponse><tse:Endpoint>${xsDateTime(now)}</tse:Endpoint></tse:EndSearchResponse>`);
      case "GetRecordingInformation": {
        const c = camera(ctx, text(xml, "RecordingToken"), "playback");
        return ok(`<tse:GetRecordingInformationResponse>${recordingInformationXml(await recording(c), "tse:RecordingInformation", now)}</tse:GetRecordingInformationResponse>`);
      }
      // Profile G: replay
      case "GetReplayUri": {
        const c = camera(ctx, text(xml, "RecordingToken"), "playback");
        const v = await recording(c);
        // The stream central holds footage of (replay serves central's copy), main first.
        const atCentral = (t: RecordingView["tracks"][number]) => t.ranges.some((r) => r.held !== "edge");
        const stream = (v.tracks.find((t) => t.stream === "main" && atCentral(t)) ?? v.tracks.find(atCentral) ?? v.tracks.find((t) => t.stream === "main") ?? v.tracks[0])?.stream ?? "main";
        return ok(`<trp:GetReplayUriResponse><trp:Uri>${xmlEscape(o.replayUri(c.id, stream))}</trp:Uri></trp:GetReplayUriResponse>`);
      }
      default:
        throw new SoapFault("Receiver", "ter:ActionNotSupported", `Optional action ${op} not implemented by the Outpost ONVIF bridge`);
    }
  }

  async function subscriptionOp(op: string, id: string, ctx: Ctx): Promise<Response> {
    // A subscription is its creator's: another user learns nothing about it.
    if (pulls.owner(id) !== ctx.sub.user) throw new SoapFault("Sender", "ter:InvalidArgVal", `Unknown or expired subscription ${id}`);
    const subUrl = xaddr(ctx.siteId, `subscription/${id}`);
    const now = () => clock.now();
    switch (op) {
      case "PullMessages": {
        const wait = Math.min(parseTermination(text(ctx.xml, "Timeout"), now(), 0), maxPull);
        const limit = Number(text(ctx.xml, "MessageLimit") ?? "10") || 10;
        const msgs = await pulls.pull(id, wait, limit);
        if (!msgs) throw new SoapFault("Sender", "ter:InvalidArgVal", `Subscription ${id} ended`);
        return ok(
          `<tev:PullMessagesResponse><tev:CurrentTime>${xsDateTime(now())}</tev:CurrentTime><tev:TerminationTime>${xsDateTime(pulls.expires(id) ?? now())}</tev:TerminationTime>` +
            msgs.map((m) => notificationXml(m, subUrl)).join("") +
            `</tev:PullMessagesResponse>`,
        );
      }
      case "Renew": {
        const exp = pulls.renew(id, Math.min(parseTermination(text(ctx.xml, "TerminationTime"), now(), SUBSCRIPTION_TTL_MS), 3600_000))!;
        return ok(`<wsnt:RenewResponse><wsnt:TerminationTime>${xsDateTime(exp)}</wsnt:TerminationTime><wsnt:CurrentTime>${xsDateTime(now())}</wsnt:CurrentTime></wsnt:RenewResponse>`);
      }
      case "Unsubscribe":
        pulls.unsubscribe(id);
        return ok(`<wsnt:UnsubscribeResponse/>`);
      case "SetSynchronizationPoint":
        return ok(`<tev:SetSynchronizationPointResponse/>`);
      default:
        throw new SoapFault("Receiver", "ter:ActionNotSupported", `Action ${op} not supported on a pull point`);
    }
  }

  async function snapshot(req: Request, client: string, siteId: string, channel: string): Promise<Response> {
    const a = await o.credentials.authenticate("GET", req.headers.get("authorization"), "", client, clock.now());
    if (a.kind !== "ok") return new Response("Unauthorized\n", { status: 401, headers: { "www-authenticate": o.credentials.http.challenge(clock.now()) } });
    const c = (await o.cameras()).find((x) => x.siteId === siteId && x.channel === channel);
    if (!c || !o.rights.has(a.subject, "view-live", { site: siteId, camera: c.id })) return new Response("No such camera\n", { status: 404 });
    const jpeg = await o.snapshot?.(c.id).catch(() => undefined);
    if (!jpeg) return new Response("No picture of this camera at central yet\n", { status: 503, headers: { "retry-after": "5" } });
    return new Response(jpeg as Uint8Array<ArrayBuffer>, { headers: { "content-type": "image/jpeg", "cache-control": "no-store" } });
  }

  let discovery: DiscoveryResponder | undefined;
  if (o.discoveryPort !== undefined) {
    discovery = await startDiscovery(
      o.host,
      o.discoveryPort,
      () => {
        // Discovery runs synchronously per probe: answer with the sites known at the last refresh.
        return knownSites.map((s) => ({ endpoint: `urn:uuid:${uuidFor(s)}`, xaddr: xaddr(s, "device_service"), name: `Outpost ${s}`, scopes: ["onvif://www.onvif.org/hardware/outpost-central"] }));
      },
      { interfaceAddress: true },
    );
  }
  let knownSites: string[] = [];
  const refresh = async () => {
    knownSites = o.cameraSites ? await o.cameraSites().catch(() => knownSites) : [...new Set((await o.cameras().catch(() => [])).map((c) => c.siteId))];
  };
  await refresh();
  const refresher = setInterval(() => void refresh(), 10_000);
  refresher.unref?.();

  log.info("ONVIF bridge listening", { url: `${base}/onvif/<site>/device_service`, discovery: discovery?.port ?? "off" });
  return {
    port: server.port!,
    url: base,
    deviceUrl: (siteId) => xaddr(siteId, "device_service"),
    ...(discovery ? { discoveryPort: discovery.port } : {}),
    publish: (e) => pulls.publish(e),
    async close() {
      clearInterval(refresher);
      pulls.close();
      await discovery?.close();
      await server.stop(true);
    },
  };
}

/** A stable urn:uuid per site (WS-Discovery endpoint reference). */
function uuidFor(siteId: string): string {
  const h = new Bun.CryptoHasher("sha1").update(`outpost-onvif:${siteId}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function eventProperties(): string {
  const item = (name: string, type: string) => `<tt:SimpleItemDescription Name="${name}" Type="${type}"/>`;
  const desc = (src: string, data: string) => `<tt:MessageDescription IsProperty="false"><tt:Source>${src}</tt:Source><tt:Data>${data}</tt:Data></tt:MessageDescription>`;
  return (
    `<tev:GetEventPropertiesResponse><tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>` +
    `<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet>` +
    `<tns1:VideoSource><MotionAlarm wstop:topic="true">${desc(item("Source", "tt:ReferenceToken"), item("State", "xs:boolean"))}</MotionAlarm></tns1:VideoSource>` +
    `<tns1:Outpost><Alarm wstop:topic="true">${desc(item("Source", "tt:ReferenceToken"), item("AlarmId", "xs:string") + item("Priority", "xs:int") + item("Title", "xs:string") + item("State", "xs:string"))}</Alarm>` +
    `<Event wstop:topic="true">${desc(item("Source", "tt:ReferenceToken"), item("Type", "xs:string") + item("EventId", "xs:string"))}</Event></tns1:Outpost>` +
    `</wstop:TopicSet><wsnt:TopicExpressionDialect>http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet</wsnt:TopicExpressionDialect>` +
    `<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>` +
    `<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation></tev:GetEventPropertiesResponse>`
  );
}
