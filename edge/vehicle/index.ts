/**
 * edge/vehicle — vehicle inputs as events with their original time, from POST /api/v1/inputs,
 * the vehicle computer's MQTT broker (mqtt-input.ts), GPIO lines (gpio.ts, gpio-uapi.ts) and
 * cameras' ONVIF digital inputs (sources.ts), and what ignition and low voltage do to recording (record on for a
 * while after ignition off, then park; low voltage stops at once). Must not touch: ingest
 * internals (edge/ingest; it asks edge/main to park/unpark), the outbox (edge/uplink).
 */
export { startInputSources, onvifInputRoute, type InputSources, type InputSourcesConfig } from "./sources.ts";
export { MqttInput, parseInputMessage } from "./mqtt-input.ts";
export { GpioInput } from "./gpio.ts";
export { Vehicle, InputBody, InputAccepted, VehicleOut, type VehicleConfig, type VehicleDeps, type VehicleState } from "./vehicle.ts";
