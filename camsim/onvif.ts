/**
 * The ONVIF device of one simulated camera (Profile S subset, Media ver10, SOAP 1.2 over HTTP on
 * Bun.serve): device, media and event services, PullPoint subscriptions and a JPEG snapshot.
 * Answers are shaped for the npm `onvif` client (see node_modules/onvif/lib), the reference
 * client the edge uses.
 */
import type { Clock } from "../lib/clock.ts";
import { iso } from "../lib/clock.ts";
import type { Logger } from "../lib/log/index.ts";
import { EventHub, notificationXml } from "./events.ts";
import type { AudioCodec, StreamSpec, VideoCodec } from "./rtsp.ts";
import { deviceInformation, envelope, faultResponse, HttpAuth, mediaUri, parseSoap, parseTermination, readBody, scopes, SoapFault, soapResponse, systemDateAndTime, text, WsSecurity, xmlEscape } from "../lib/onvif/index.ts";

export interface DeviceModel {
  id: string;
  name: string;
  serial: string;
  audio: boolean;
  audioCodec: AudioCodec;
  codec: VideoCodec;
  rtspUrl(profile: "main" | "sub"): string;
  spec(profile: "main" | "sub"): StreamSpec;
  running(): boolean;
  events: EventHub;
  snapshot(): Promise<Uint8Array<ArrayBuffer>>;
}

export interface OnvifOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  clock: Clock;
  log: Logger;
  /** Upper bound for one PullMessages long poll, whatever Timeout the client asks. */
  maxPullWaitMs: number;
}

export interface OnvifDevice {
  port: number;
  deviceUrl: string;
  snapshotUrl: string;
  stop(): Promise<void>;
}

const PRE_AUTH = new Set(["GetSystemDateAndTime"]);
const SUBSCRIPTION_TTL_MS = 60_000;

export function startOnvif(model: DeviceModel, opts: OnvifOptions): OnvifDevice {
  const authOn = opts.user !== "";
  const wsse = new WsSecurity(opts.user, opts.password);
  const http = new HttpAuth(opts.user, opts.password);
  let base = "";

  const unauthorized = (reason: string): Response =>
    faultResponse("Sender", "ter:NotAuthorized", reason, 401, { "www-authenticate": http.challenge(opts.clock.now()) });

  function authorize(req: Request, xml: string, op: string | undefined): Response | undefined {
    if (!authOn || (op && PRE_AUTH.has(op))) return undefined;
    const now = opts.clock.now();
    const w = wsse.check(xml, now);
    const h = http.check(req.method, req.headers.get("authorization"), now);
    if (w === "ok" || h === "ok") return undefined;
    // ONVIF core 5.9.1: a rejected WS-Security token is a 400 NotAuthorized fault; digest asks again with 401.
    if (w === "bad") return faultResponse("Sender", "ter:NotAuthorized", "Sender not authorized");
    return unauthorized("Sender not authorized");
  }

  const server = Bun.serve({
    hostname: opts.host,
    port: opts.port,
    // PullMessages may legitimately hold a request for up to a minute.
    idleTimeout: 120,
    fetch: async (req) => {
      const url = new URL(req.url);
      try {
        if (req.method === "GET" && url.pathname === "/snapshot.jpg") return await snapshot(req);
        if (req.method !== "POST") return new Response("ONVIF device: POST SOAP requests to /onvif/device_service\n", { status: 405 });
        let xml: string;
        let op: string;
        try {
          ({ xml, op } = parseSoap(await readBody(req)));
        } catch (e) {
          if (e instanceof SoapFault) return e.response();
          throw e;
        }
        const denied = authorize(req, xml, op);
        if (denied) return denied;
        const sub = /^\/onvif\/subscription\/([\w-]+)$/.exec(url.pathname);
        if (sub) return await subscriptionOp(op, sub[1]!, xml);
        return handle(op, xml);
      } catch (e) {
        opts.log.error("onvif request failed", { path: url.pathname, err: (e as Error).message });
        return faultResponse("Receiver", "ter:Action", "Internal error");
      }
    },
  });
  base = `http://${opts.host}:${server.port}`;
  const xaddr = {
    device: `${base}/onvif/device_service`,
    media: `${base}/onvif/media_service`,
    events: `${base}/onvif/events_service`,
  };

  async function snapshot(req: Request): Promise<Response> {
    if (authOn && http.check("GET", req.headers.get("authorization"), opts.clock.now()) !== "ok") {
      return new Response("Unauthorized\n", { status: 401, headers: { "www-authenticate": http.challenge(opts.clock.now()) } });
    }
    if (!model.running()) return new Response("camera stopped\n", { status: 503 });
    const jpeg = await model.snapshot();
    return new Response(jpeg, { headers: { "content-type": "image/jpeg", "cache-control": "no-store" } });
  }

  function ok(body: string): Response {
    return soapResponse(envelope(body));
  }

  function handle(op: string, xml: string): Response {
    switch (op) {
      case "GetSystemDateAndTime":
        return ok(systemDateAndTime(opts.clock.now()));
      case "GetCapabilities":
        return ok(
          `<tds:GetCapabilitiesResponse><tds:Capabilities>` +
            `<tt:Device><tt:XAddr>${xaddr.device}</tt:XAddr><tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>false</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade><tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System>` +
            `<tt:IO><tt:InputConnectors>1</tt:InputConnectors><tt:RelayOutputs>0</tt:RelayOutputs></tt:IO></tt:Device>` +
            `<tt:Events><tt:XAddr>${xaddr.events}</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>` +
            `<tt:Media><tt:XAddr>${xaddr.media}</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>` +
            `</tds:Capabilities></tds:GetCapabilitiesResponse>`,
        );
      case "GetServices": {
        const withCaps = text(xml, "IncludeCapability") === "true";
        const svc = (ns: string, addr: string, caps: string) =>
          `<tds:Service><tds:Namespace>${ns}</tds:Namespace><tds:XAddr>${addr}</tds:XAddr>` +
          (withCaps ? `<tds:Capabilities>${caps}</tds:Capabilities>` : "") +
          `<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>`;
        return ok(
          `<tds:GetServicesResponse>` +
            svc("http://www.onvif.org/ver10/device/wsdl", xaddr.device, `<tds:Capabilities><tds:System DiscoveryResolve="false" DiscoveryBye="false" RemoteDiscovery="false"/></tds:Capabilities>`) +
            svc("http://www.onvif.org/ver10/media/wsdl", xaddr.media, `<trt:Capabilities SnapshotUri="true" Rotation="false"><trt:ProfileCapabilities MaximumNumberOfProfiles="2"/><trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true"/></trt:Capabilities>`) +
            svc("http://www.onvif.org/ver10/events/wsdl", xaddr.events, `<tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true" WSPausableSubscriptionManagerInterfaceSupport="false" MaxPullPoints="16"/>`) +
            `</tds:GetServicesResponse>`,
        );
      }
      case "GetDeviceInformation":
        return ok(deviceInformation({ manufacturer: "Outpost", model: "camsim", firmware: "camsim-1", serial: model.serial, hardwareId: "camsim" }));
      case "GetScopes":
        return ok(scopes(["onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming", `onvif://www.onvif.org/name/${encodeURIComponent(model.name)}`, "onvif://www.onvif.org/hardware/camsim"]));
      case "GetHostname":
        return ok(`<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP><tt:Name>${xmlEscape(model.id)}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>`);
      case "GetVideoSources": {
        const m = model.spec("main");
        return ok(
          `<trt:GetVideoSourcesResponse><trt:VideoSources token="VideoSource_1"><tt:Framerate>${m.fps}</tt:Framerate>` +
            `<tt:Resolution><tt:Width>${m.width}</tt:Width><tt:Height>${m.height}</tt:Height></tt:Resolution></trt:VideoSources></trt:GetVideoSourcesResponse>`,
        );
      }
      case "GetProfiles":
        return ok(`<trt:GetProfilesResponse>${profileXml("main", "Profiles")}${profileXml("sub", "Profiles")}</trt:GetProfilesResponse>`);
      case "GetProfile": {
        const p = profileToken(xml);
        if (!p) return noProfile();
        return ok(`<trt:GetProfileResponse>${profileXml(p, "Profile")}</trt:GetProfileResponse>`);
      }
      case "GetStreamUri": {
        const p = profileToken(xml);
        if (!p) return noProfile();
        return ok(`<trt:GetStreamUriResponse>${mediaUri(model.rtspUrl(p))}</trt:GetStreamUriResponse>`);
      }
      case "GetSnapshotUri": {
        if (!profileToken(xml)) return noProfile();
        return ok(`<trt:GetSnapshotUriResponse>${mediaUri(`${base}/snapshot.jpg`)}</trt:GetSnapshotUriResponse>`);
      }
      case "GetServiceCapabilities":
        return ok(`<tev:GetServiceCapabilitiesResponse><tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true" WSPausableSubscriptionManagerInterfaceSupport="false" MaxPullPoints="16"/></tev:GetServiceCapabilitiesResponse>`);
      case "GetEventProperties":
        return ok(eventProperties());
      case "CreatePullPointSubscription": {
        const now = opts.clock.now();
        const ttl = parseTermination(text(xml, "InitialTerminationTime"), now, SUBSCRIPTION_TTL_MS);
        const s = model.events.create(ttl);
        return ok(
          `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${base}/onvif/subscription/${s.id}</wsa:Address></tev:SubscriptionReference>` +
            `<wsnt:CurrentTime>${iso(now)}</wsnt:CurrentTime><wsnt:TerminationTime>${iso(s.expires)}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`,
        );
      }
      default:
        return faultResponse("Receiver", "ter:ActionNotSupported", `Optional action ${op} not implemented by camsim`);
    }
  }

  async function subscriptionOp(op: string, id: string, xml: string): Promise<Response> {
    if (!model.events.has(id)) return faultResponse("Sender", "ter:InvalidArgVal", `Unknown or expired subscription ${id}`);
    const subUrl = `${base}/onvif/subscription/${id}`;
    const now = () => opts.clock.now();
    switch (op) {
      case "PullMessages": {
        const wait = Math.min(parseTermination(text(xml, "Timeout"), now(), 0), opts.maxPullWaitMs);
        const limit = Number(text(xml, "MessageLimit") ?? "10") || 10;
        const msgs = await model.events.pull(id, wait, limit);
        if (!msgs) return faultResponse("Sender", "ter:InvalidArgVal", `Subscription ${id} ended`);
        return ok(
          `<tev:PullMessagesResponse><tev:CurrentTime>${iso(now())}</tev:CurrentTime><tev:TerminationTime>${iso(model.events.expires(id) ?? now())}</tev:TerminationTime>` +
            msgs.map((m) => notificationXml(m, subUrl)).join("") +
            `</tev:PullMessagesResponse>`,
        );
      }
      case "Renew": {
        const ttl = parseTermination(text(xml, "TerminationTime"), now(), SUBSCRIPTION_TTL_MS);
        const exp = model.events.renew(id, ttl)!;
        return ok(`<wsnt:RenewResponse><wsnt:TerminationTime>${iso(exp)}</wsnt:TerminationTime><wsnt:CurrentTime>${iso(now())}</wsnt:CurrentTime></wsnt:RenewResponse>`);
      }
      case "Unsubscribe":
        model.events.unsubscribe(id);
        return ok(`<wsnt:UnsubscribeResponse/>`);
      case "SetSynchronizationPoint":
        return ok(`<tev:SetSynchronizationPointResponse/>`);
      default:
        return faultResponse("Receiver", "ter:ActionNotSupported", `Action ${op} not supported on a pull point`);
    }
  }

  function profileToken(xml: string): "main" | "sub" | undefined {
    const t = text(xml, "ProfileToken");
    return t === "main" || t === "sub" ? t : undefined;
  }

  function noProfile(): Response {
    return faultResponse("Sender", "ter:InvalidArgVal", "ter:NoProfile: profile token must be 'main' or 'sub'");
  }

  function profileXml(p: "main" | "sub", tag: string): string {
    const s = model.spec(p);
    const m = model.spec("main");
    const audio = model.audio
      ? `<tt:AudioSourceConfiguration token="asc"><tt:Name>audio</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>AudioSource_1</tt:SourceToken></tt:AudioSourceConfiguration>`
      : "";
    const g711 = model.audioCodec === "pcmu" || model.audioCodec === "pcma";
    const audioEnc = model.audio
      ? `<tt:AudioEncoderConfiguration token="aec"><tt:Name>${model.audioCodec}</tt:Name><tt:UseCount>2</tt:UseCount><tt:Encoding>${g711 ? "G711" : "AAC"}</tt:Encoding><tt:Bitrate>${g711 ? 64 : 32}</tt:Bitrate><tt:SampleRate>${g711 ? 8 : 16}</tt:SampleRate><tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:AudioEncoderConfiguration>`
      : "";
    return (
      `<trt:${tag} token="${p}" fixed="true"><tt:Name>${p}</tt:Name>` +
      `<tt:VideoSourceConfiguration token="vsc"><tt:Name>video</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="${m.width}" height="${m.height}"/></tt:VideoSourceConfiguration>` +
      audio +
      `<tt:VideoEncoderConfiguration token="vec_${p}"><tt:Name>${p}</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>${model.codec === "h265" ? "H265" : model.codec === "mjpeg" ? "JPEG" : "H264"}</tt:Encoding>` +
      `<tt:Resolution><tt:Width>${s.width}</tt:Width><tt:Height>${s.height}</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>` +
      `<tt:RateControl><tt:FrameRateLimit>${s.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>${s.bitrateKbps}</tt:BitrateLimit></tt:RateControl>` +
      (model.codec !== "h264" ? "" : `<tt:H264><tt:GovLength>${s.fps}</tt:GovLength><tt:H264Profile>Baseline</tt:H264Profile></tt:H264>`) +
      `<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>` +
      `<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>` +
      audioEnc +
      `</trt:${tag}>`
    );
  }

  opts.log.debug("onvif device listening", { url: xaddr.device });
  return {
    port: server.port!,
    deviceUrl: xaddr.device,
    snapshotUrl: `${base}/snapshot.jpg`,
    async stop() {
      model.events.close();
      await server.stop(true);
    },
  };
}


function eventProperties(): string {
  const item = (name: string, type: string) => `<tt:SimpleItemDescription Name="${name}" Type="${type}"/>`;
  const desc = (src: string, data: string) =>
    `<tt:MessageDescription IsProperty="true"><tt:Source>${src}</tt:Source><tt:Data>${data}</tt:Data></tt:MessageDescription>`;
  return (
    `<tev:GetEventPropertiesResponse><tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>` +
    `<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet>` +
    `<tns1:VideoSource><MotionAlarm wstop:topic="true">${desc(item("Source", "tt:ReferenceToken"), item("State", "xs:boolean"))}</MotionAlarm></tns1:VideoSource>` +
    `<tns1:Device><Trigger><DigitalInput wstop:topic="true">${desc(item("InputToken", "tt:ReferenceToken"), item("LogicalState", "xs:boolean"))}</DigitalInput></Trigger></tns1:Device>` +
    `</wstop:TopicSet><wsnt:TopicExpressionDialect>http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet</wsnt:TopicExpressionDialect>` +
    `<tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect>` +
    `<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation></tev:GetEventPropertiesResponse>`
  );
}
