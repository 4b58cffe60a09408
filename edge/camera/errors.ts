/** Errors of camera setup, with a machine-readable code and a sentence for people. */
export type CameraErrorCode = "invalid" | "unreachable" | "auth-failed" | "unsupported-codec" | "onvif-error";

export class CameraError extends Error {
  constructor(
    readonly code: CameraErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "CameraError";
  }
}
