/**
 * `outpost camsim`: run simulated ONVIF/RTSP cameras until SIGINT/SIGTERM (camsim/ does the work).
 */
import { writeFile } from "node:fs/promises";
import { CliError, parseOptions, untilSignal, type Command } from "../../lib/cli/index.ts";
import { CamsimError, DEFAULT_MAIN, DEFAULT_SUB, startCamsim, type AudioCodec, type StreamSpec, type VideoCodec } from "../../camsim/index.ts";

const usage = `usage: outpost camsim --cameras N [options]

Simulated cameras on 127.0.0.1: RTSP main+sub H.264 streams (GStreamer), an ONVIF device per
camera, WS-Discovery answers and an HTTP control endpoint for faults and events.

options:
  --cameras N           number of cameras (1..64, required)
  --port P              RTSP port (default 0 = any free port)
  --onvif-port P        first ONVIF port; camera i gets P+i-1 (default 0 = free ports)
  --control-port P      HTTP control endpoint port (default 0 = free port)
  --discovery-port P    WS-Discovery unicast port on 127.0.0.1 (default 0 = free port)
  --user U              user for RTSP/ONVIF/snapshots (default admin; --user "" disables auth)
  --password P          password (default camsim)
  --main WxH[@FPS]      main stream (default ${DEFAULT_MAIN.width}x${DEFAULT_MAIN.height}@${DEFAULT_MAIN.fps})
  --sub WxH[@FPS]       sub stream (default ${DEFAULT_SUB.width}x${DEFAULT_SUB.height}@${DEFAULT_SUB.fps})
  --main-kbps K         main bitrate (default ${DEFAULT_MAIN.bitrateKbps})
  --sub-kbps K          sub bitrate (default ${DEFAULT_SUB.bitrateKbps})
  --pattern P           picture: ball (default; simple, sends well below its bitrate) or snow (noise:
                        hard to compress, sends the bitrate it claims); any videotestsrc pattern name
  --audio               add an audio track (AAC unless --audio-codec says otherwise)
  --audio-codec C       aac (RFC 3640), latm (MP4A-LATM), pcmu or pcma (G.711); implies --audio
  --codec C             h264 (default), h265 or mjpeg
  --bframes N           B-frames 0..3 (default 0)
  --rtp-timestamp-offset N  first RTP timestamp of every stream (32-bit; default random)
  --motion-every MS     toggle a motion event on every camera every MS milliseconds
  --json FILE           also write cameras, URLs and control URL as JSON to FILE ("-" = stdout only)

control API (see docs/ref/camsim.md): GET /cameras, POST /cameras/{id}/stop|start|stall|resume|restart,
POST /cameras/{id}/resolution {width,height}, POST /cameras/{id}/jump|clock-step {seconds},
POST /cameras/{id}/clock-rate {rate}, POST /cameras/{id}/events {type:"motion"|"input",state}`;

export function parseStream(value: string | undefined, base: StreamSpec, flag: string): Partial<StreamSpec> {
  if (value === undefined) return {};
  const m = /^(\d+)x(\d+)(?:@(\d+))?$/.exec(value);
  if (!m) throw new CliError(`--${flag} must look like 1280x720 or 1280x720@15, got '${value}'`);
  return { width: Number(m[1]), height: Number(m[2]), fps: m[3] ? Number(m[3]) : base.fps };
}

function int(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new CliError(`--${flag} must be a non-negative integer, got '${value}'`);
  return Number(value);
}

const command: Command = {
  summary: "simulated ONVIF/RTSP cameras for tests, demos and benchmarks",
  usage,
  async run(argv) {
    const { values } = parseOptions(
      argv,
      {
        cameras: { type: "string" },
        port: { type: "string" },
        "onvif-port": { type: "string" },
        "control-port": { type: "string" },
        "discovery-port": { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
        main: { type: "string" },
        sub: { type: "string" },
        "main-kbps": { type: "string" },
        "sub-kbps": { type: "string" },
        pattern: { type: "string" },
        audio: { type: "boolean" },
        "audio-codec": { type: "string" },
        codec: { type: "string" },
        bframes: { type: "string" },
        "rtp-timestamp-offset": { type: "string" },
        "motion-every": { type: "string" },
        json: { type: "string" },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const cameras = int(values.cameras, "cameras");
    if (cameras === undefined) throw new CliError(`missing --cameras\n\n${usage}`);
    const main = { ...parseStream(values.main, DEFAULT_MAIN, "main"), ...(values["main-kbps"] ? { bitrateKbps: int(values["main-kbps"], "main-kbps") } : {}) };
    const sub = { ...parseStream(values.sub, DEFAULT_SUB, "sub"), ...(values["sub-kbps"] ? { bitrateKbps: int(values["sub-kbps"], "sub-kbps") } : {}) };
    let sim;
    try {
      sim = await startCamsim({
        cameras,
        rtspPort: int(values.port, "port"),
        onvifBasePort: int(values["onvif-port"], "onvif-port"),
        controlPort: int(values["control-port"], "control-port"),
        discoveryPort: int(values["discovery-port"], "discovery-port"),
        user: values.user,
        password: values.password,
        main,
        sub,
        ...(values.pattern !== undefined ? { pattern: values.pattern } : {}),
        audio: (values.audio ?? false) || values["audio-codec"] !== undefined,
        ...(values["audio-codec"] !== undefined ? { audioCodec: values["audio-codec"] as AudioCodec } : {}),
        ...(values.codec !== undefined ? { codec: values.codec as VideoCodec } : {}),
        ...(values.bframes !== undefined ? { bframes: int(values.bframes, "bframes") } : {}),
        ...(values["rtp-timestamp-offset"] !== undefined ? { rtpTimestampOffset: int(values["rtp-timestamp-offset"], "rtp-timestamp-offset") } : {}),
        motionEveryMs: int(values["motion-every"], "motion-every"),
      });
    } catch (e) {
      if (e instanceof CamsimError) throw new CliError(e.message);
      throw e;
    }
    const summary = {
      controlUrl: sim.controlUrl,
      rtspPort: sim.rtspPort,
      discoveryPort: sim.discoveryPort,
      user: sim.user,
      password: sim.password,
      cameras: sim.cameras.map((c) => ({ id: c.id, name: c.name, rtspMain: c.rtspMain, rtspSub: c.rtspSub, onvifUrl: c.onvifUrl, snapshotUrl: c.snapshotUrl })),
    };
    if (values.json === "-") {
      console.log(JSON.stringify(summary, null, 2));
    } else {
      if (values.json) await writeFile(values.json, JSON.stringify(summary, null, 2) + "\n");
      const cred = sim.user ? `user ${sim.user} / password ${sim.password}` : "no authentication";
      console.log(`camsim: ${sim.cameras.length} camera(s), ${cred}`);
      console.log(`control: ${sim.controlUrl}/cameras   ws-discovery: udp 127.0.0.1:${sim.discoveryPort}`);
      for (const c of sim.cameras) {
        console.log(`${c.id}  main ${c.rtspMain}  sub ${c.rtspSub}  onvif ${c.onvifUrl}`);
      }
    }
    const sig = await untilSignal();
    console.error(`camsim: ${sig}, stopping`);
    await sim.close();
    return 0;
  },
};

export default command;
