/**
 * The vehicle-input sources besides the local HTTP API, started from the edge config's
 * `vehicle` section: MQTT (the vehicle computer's broker), GPIO lines (the recorder's own I/O),
 * and cameras' ONVIF digital inputs (mapped by camera and input token). Each hands changes to
 * Vehicle.input with their original time and a `source` (mqtt, gpio, onvif), so they take the
 * same path as HTTP inputs: event log + outbox → central.
 */
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { GpioInput, type GpioConfig } from "./gpio.ts";
import { MqttInput, type MqttInputConfig } from "./mqtt-input.ts";
import type { Vehicle } from "./vehicle.ts";

export interface InputSourcesConfig {
  mqtt?: MqttInputConfig;
  gpio?: GpioConfig;
  onvifInputs: { camera: string; token: string; input: string }[];
}

export interface InputSources {
  readonly mqtt?: MqttInput;
  readonly gpio?: GpioInput;
  stop(): Promise<void>;
}

export function startInputSources(cfg: InputSourcesConfig, vehicle: Vehicle, d: { clock: Clock; log: Logger }): InputSources {
  const input = (name: string, state: boolean, atMs: number, source: string) => vehicle.input(name, state, atMs, source);
  const mqtt = cfg.mqtt ? new MqttInput(cfg.mqtt, { ...d, log: d.log.child({ component: "vehicle.mqtt" }), input }) : undefined;
  const gpio = cfg.gpio ? new GpioInput(cfg.gpio, { ...d, log: d.log.child({ component: "vehicle.gpio" }), input }) : undefined;
  mqtt?.start();
  gpio?.start();
  return {
    ...(mqtt ? { mqtt } : {}),
    ...(gpio ? { gpio } : {}),
    async stop() {
      gpio?.stop();
      await mqtt?.stop();
    },
  };
}

/**
 * For edge/events: a camera's ONVIF digital input that the config maps to a vehicle input goes to
 * the vehicle (and is not recorded a second time as a camera `input` event). True = taken.
 */
export function onvifInputRoute(map: InputSourcesConfig["onvifInputs"], vehicle: () => Vehicle | undefined, log: Logger) {
  return (cameraId: string, e: { atMs: number; data: Record<string, unknown> }): boolean => {
    const m = map.find((x) => x.camera === cameraId && x.token === e.data.input);
    const v = vehicle();
    if (!m || !v) return false;
    v.input(m.input, e.data.state === true, e.atMs, "onvif").catch((err) => log.error("vehicle input not recorded", { input: m.input, camera: cameraId, err: err as Error }));
    return true;
  };
}
