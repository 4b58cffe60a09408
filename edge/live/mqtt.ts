/**
 * Standalone path for central's live requests: an MQTT client with the edge's federation
 * identity subscribed to outpost/v1/sites/<siteId>/down/live. Use it only when the control
 * plane's uplink (edge/uplink) is not running — the broker allows one session per site id;
 * with the uplink, register EdgeLive.command as its "live" command handler instead.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "../../lib/log/index.ts";
import { liveTopic } from "../../federation/live/control.ts";
import type { EdgeLive } from "./live.ts";

export interface LiveMqttIdentity {
  siteId: string;
  mqttUrl: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

export function listenLiveRequests(live: EdgeLive, id: LiveMqttIdentity, log: Logger): { client: MqttClient; close(): Promise<void> } {
  const client = mqtt.connect(id.mqttUrl, {
    ca: id.caPem,
    cert: id.certPem,
    key: id.keyPem,
    clientId: id.siteId,
    protocolVersion: 4,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    rejectUnauthorized: true,
    clean: true,
  });
  // Handlers before the connection completes (TOOLCHAIN: queued messages come with CONNACK).
  client.on("message", (_topic, payload) => {
    let args: unknown;
    try {
      args = JSON.parse(payload.toString());
    } catch {
      log.warn("live request is not JSON; ignored");
      return;
    }
    try {
      live.command(args);
    } catch (e) {
      log.warn("live request refused", { err: (e as Error).message });
    }
  });
  client.on("connect", () => client.subscribe(liveTopic(id.siteId), { qos: 1 }));
  client.on("error", (e) => log.warn("live MQTT error", { err: e.message }));
  return {
    client,
    close: () => new Promise<void>((r) => client.end(true, {}, () => r())),
  };
}
