/**
 * LiveRequesters: how central asks an edge for a live uplink. The MQTT one publishes the
 * LiveRequest on outpost/v1/sites/<site>/down/live (edge/live/mqtt.ts listens); the command
 * one goes through the control plane's command path (central/sites `command`, handled on the
 * edge by registering EdgeLive.command as the "live" command).
 */
import type { Aedes } from "aedes";
import { liveTopic, type LiveRequest } from "../../federation/live/control.ts";
import type { LiveRequester } from "./live.ts";

export function mqttRequester(broker: Aedes): LiveRequester {
  return {
    request: (siteId, req) =>
      new Promise<void>((resolve, reject) =>
        broker.publish(
          { cmd: "publish", topic: liveTopic(siteId), payload: Buffer.from(JSON.stringify(req)), qos: 1, retain: false, dup: false } as Parameters<Aedes["publish"]>[0],
          (e) => (e ? reject(e) : resolve()),
        ),
      ),
  };
}

/** Over the control plane's command path (issue 4): `sites.command(siteId, "live", req, ttl, by)`. */
export function commandRequester(sites: { command(siteId: string, name: string, args: Record<string, unknown>, ttlMs: number, by: string): Promise<unknown> }): LiveRequester {
  return {
    request: async (siteId, req: LiveRequest) => {
      await sites.command(siteId, "live", { ...req }, 15_000, "central.live");
    },
  };
}
