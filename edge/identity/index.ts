/**
 * edge/identity/: the edge's federation identity — key generation (the key never leaves the
 * edge), enrollment, storage in DIR/identity/, renewal with crash-safe rotation, and TLS client
 * options for fetch and mqtt.js. It knows central only through federation/ and must not
 * import central/ or the rest of edge/.
 */
export { enroll, EnrollError, type EnrollOptions } from "./enroll.ts";
export {
  loadIdentity,
  loadPendingIdentity,
  renewalDue,
  beginRotation,
  confirmRotation,
  rotate,
  resumeRotation,
  startRenewal,
  type RenewalOptions,
} from "./rotate.ts";
export { identityStatus } from "./status.ts";
export { tlsClientOptions, fetchTls, mqttClientOptions, federationCall, FederationError, type TlsClientOptions } from "./client.ts";
export { identityDir, type Identity } from "./store.ts";
export { custodySigner, signerCache } from "./signer.ts";
