#!/usr/bin/python3
"""RTSP side of camsim: one GstRtspServer hosting every simulated camera (/camN/main, /camN/sub).

Run by camsim/rtsp.ts as a supervised child with /usr/bin/python3 (the distro python has gi).
Control is JSON lines: the first stdin line is the configuration, later lines are commands
({"id":n,"cmd":"stop|start|stall|resume|resolution|jump|rate|activity|quit","camera":"cam1",...}); stdout carries
{"type":"ready","port":P}, {"type":"ack","id":n,"ok":bool,"error"?} and {"type":"log",...}.
This process must never outlive its parent: EOF on stdin or the parent's death ends it.
"""
import ctypes
import json
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer, GstVideo  # noqa: E402

R = GstRtspServer


def die_with_parent():
    # PR_SET_PDEATHSIG: a kill -9 of the Bun parent must not leave an encoder running.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)
    except OSError:
        pass


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def log(level, msg, **fields):
    emit({"type": "log", "level": level, "msg": msg, **fields})


def quote(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Stream:
    """One mount (main or sub) of one camera; tracks the live shared media so faults can reach it."""

    def __init__(self, cam, kind, spec):
        self.cam = cam
        self.kind = kind
        self.width = int(spec["width"])
        self.height = int(spec["height"])
        self.fps = int(spec["fps"])
        self.kbps = int(spec["bitrateKbps"])
        self.medias = []
        self.factory = None

    @property
    def path(self):
        return "/%s/%s" % (self.cam.id, self.kind)

    def launch(self, cfg):
        fps = self.fps
        codec = cfg.get("codec", "h264")
        bframes = int(cfg.get("bframes", 0))
        pay_opts = " config-interval=-1"
        if codec == "mjpeg":
            # Motion JPEG (RFC 2435), as older and cheap cameras send: the edge must say it cannot record it.
            enc = "jpegenc name=enc quality=50"
            pay = "rtpjpegpay"
            pay_opts = ""
        elif codec == "h265":
            # x265's zerolatency tune forbids B-frames; without it, a short lookahead keeps latency low.
            enc = (
                "x265enc name=enc speed-preset=ultrafast key-int-max=%d bitrate=%d %s ! video/x-h265,profile=main"
                % (fps, self.kbps, "option-string=bframes=%d:rc-lookahead=5" % bframes if bframes else "tune=zerolatency")
            )
            pay = "rtph265pay"
        else:
            # B-frames need main profile and x264's lookahead (zerolatency turns them off).
            tune = "tune=zerolatency" if not bframes else "rc-lookahead=5"
            profile = cfg["profile"] if not bframes else "main"
            enc = (
                "x264enc name=enc %s speed-preset=ultrafast threads=1 bframes=%d key-int-max=%d bitrate=%d byte-stream=true ! video/x-h264,profile=%s"
                % (tune, bframes, fps, self.kbps, profile)
            )
            pay = "rtph264pay"
        offset = cfg.get("timestampOffset")
        ts_offset = " timestamp-offset=%d" % (int(offset) & 0xFFFFFFFF) if offset is not None else ""
        video = (
            "videotestsrc is-live=true pattern=%s ! capsfilter name=vcaps caps=video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! "
            "textoverlay text=%s halignment=left valignment=top shaded-background=true ! "
            # Scripted activity (cmd "activity"): a block that moves across the picture at set times.
            "textoverlay name=obj text=\"\" font-desc=\"Sans Bold 40\" halignment=position valignment=position xpos=0 ypos=0.45 ! "
            "clockoverlay time-format=%s halignment=right valignment=top shaded-background=true ! "
            "%s ! valve name=vvalve drop-mode=forward-sticky-events drop=%s ! "
            "%s name=pay0 pt=%d%s%s"
            % (
                cfg["pattern"], self.width, self.height, fps,
                quote(self.cam.name), quote("%Y-%m-%d %H:%M:%S"),
                enc,
                "true" if self.cam.stalled else "false",
                pay, 26 if codec == "mjpeg" else 96, pay_opts, ts_offset,
            )
        )
        audio = ""
        if cfg["audio"]:
            kind = cfg.get("audioCodec", "aac")
            src = "audiotestsrc is-live=true wave=sine freq=440 volume=0.05 samplesperbuffer=%d ! audioconvert ! audioresample ! "
            if kind in ("pcmu", "pcma"):
                # G.711: 8 kHz mono, 20 ms packets, static payload types 0 / 8.
                chain = (src % 160) + "audio/x-raw,rate=8000,channels=1 ! %s ! valve name=avalve drop-mode=forward-sticky-events drop=%s ! %s name=pay1 pt=%d%s" % (
                    "mulawenc" if kind == "pcmu" else "alawenc",
                    "true" if self.cam.stalled else "false",
                    "rtppcmupay" if kind == "pcmu" else "rtppcmapay",
                    0 if kind == "pcmu" else 8,
                    ts_offset,
                )
            else:
                enc = "voaacenc bitrate=32000" if Gst.ElementFactory.find("voaacenc") else "avenc_aac bitrate=32000"
                # aac: RFC 3640 mpeg4-generic; latm: RFC 6416 MP4A-LATM.
                chain = (src % 1600) + "audio/x-raw,rate=16000,channels=1 ! %s ! valve name=avalve drop-mode=forward-sticky-events drop=%s ! %s name=pay1 pt=97%s" % (
                    enc, "true" if self.cam.stalled else "false", "rtpmp4apay" if kind == "latm" else "rtpmp4gpay", ts_offset,
                )
            audio = " " + chain
        return "( " + video + audio + " )"

    def make_factory(self, server_cfg, auth_enabled):
        f = R.RTSPMediaFactory()
        f.set_launch(self.launch(server_cfg))
        f.set_shared(True)
        if auth_enabled:
            perms = R.RTSPPermissions()
            perms.add_permission_for_role("user", "media.factory.access", True)
            perms.add_permission_for_role("user", "media.factory.construct", True)
            f.set_permissions(perms)
        f.connect("media-configure", self.on_media)
        self.factory = f
        return f

    def on_media(self, _factory, media):
        self.medias.append(media)
        media.connect("unprepared", self.on_unprepared)
        pipeline = media.get_element()
        self.cam.draw_object(pipeline)
        caps = pipeline.get_by_name("vcaps")
        if caps is not None and self.kind == "main":
            # A client that joins after a resolution change must get the current size.
            caps.set_property("caps", self.caps())
        for name in ("vvalve", "avalve"):
            v = pipeline.get_by_name(name)
            if v is not None:
                v.set_property("drop", self.cam.stalled)
        for name in ("pay0", "pay1"):
            pay = pipeline.get_by_name(name)
            if pay is not None:
                pay.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self.cam.clock.probe, {})

    def on_unprepared(self, media):
        self.medias = [m for m in self.medias if m is not media]

    def caps(self):
        return Gst.Caps.from_string("video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1" % (self.width, self.height, self.fps))

    def set_stalled(self, stalled):
        for media in list(self.medias):
            pipeline = media.get_element()
            for name in ("vvalve", "avalve"):
                v = pipeline.get_by_name(name)
                if v is not None:
                    v.set_property("drop", stalled)
            if not stalled:
                # Clients must not wait up to a GOP after a stall: ask the encoder for an IDR now.
                enc = pipeline.get_by_name("enc")
                if enc is not None:
                    ev = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
                    enc.get_static_pad("src").send_event(ev)

    def set_resolution(self, width, height):
        self.width, self.height = width, height
        for media in list(self.medias):
            caps = media.get_element().get_by_name("vcaps")
            if caps is not None:
                caps.set_property("caps", self.caps())


class CameraClock:
    """The camera's media clock as RTP timestamps show it: jumps (a proxy, an NTP step on a camera
    that stamps RTP from its wall clock) and a rate (a slow crystal). Applied to buffer times in
    front of each payloader; every pad folds changes in at its own next buffer, since each shared
    media pipeline has its own running time. The server's sinks sync to the clock: a backward
    jump or a slower rate goes out at once, a forward jump of J s holds the stream back J s
    first (the camera pauses, then resumes J s ahead)."""

    def __init__(self):
        self.version = 0
        self.jump_ns = 0
        self.rate = 1.0

    def jump(self, seconds):
        self.jump_ns += int(seconds * Gst.SECOND)
        self.version += 1

    def set_rate(self, rate):
        self.rate = rate
        self.version += 1

    def probe(self, _pad, info, st):
        buf = info.get_buffer()
        if buf is None or buf.pts == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        if not st:
            st.update(version=-1, offset=0, anchor=buf.pts, rate=1.0, jumped=0)
        if st["version"] != self.version:
            # Fold the old rate into the offset at this buffer, then take the new settings.
            st["offset"] += int((buf.pts - st["anchor"]) * (st["rate"] - 1))
            st["anchor"] = buf.pts
            st["rate"] = self.rate
            st["offset"] += self.jump_ns - st["jumped"]
            st["jumped"] = self.jump_ns
            st["version"] = self.version
        if st["offset"] == 0 and st["rate"] == 1.0:
            return Gst.PadProbeReturn.OK

        def shift(t):
            return max(0, t + st["offset"] + int((t - st["anchor"]) * (st["rate"] - 1)))

        buf.pts = shift(buf.pts)
        if buf.dts != Gst.CLOCK_TIME_NONE:
            buf.dts = shift(buf.dts)
        return Gst.PadProbeReturn.OK


class Camera:
    def __init__(self, spec):
        self.id = spec["id"]
        self.name = spec["name"]
        self.clock = CameraClock()
        self.stalled = False
        self.running = True
        self.streams = {"main": Stream(self, "main", spec["main"]), "sub": Stream(self, "sub", spec["sub"])}
        # Scripted activity: [(from_ms, to_ms)] in wall-clock ms; the object crosses the picture every 4 s.
        self.activity = []

    def object_at(self, now_ms):
        for a, b in self.activity:
            if a <= now_ms < b:
                return ((now_ms - a) % 4000) / 4000.0 * 0.8
        return None

    def draw_object(self, pipeline, now_ms=None):
        obj = pipeline.get_by_name("obj")
        if obj is None:
            return
        x = self.object_at(now_ms if now_ms is not None else GLib.get_real_time() // 1000)
        if x is None:
            if obj.get_property("text") != "":
                obj.set_property("text", "")
        else:
            obj.set_property("text", "\u2588\u2588\u2588")
            obj.set_property("xpos", x)

    def tick(self):
        now_ms = GLib.get_real_time() // 1000
        # Windows that ended long ago are dropped; the timer stops when none is left.
        self.activity = [w for w in self.activity if w[1] > now_ms - 1000]
        for s in self.streams.values():
            for media in list(s.medias):
                self.draw_object(media.get_element(), now_ms)
        return bool(self.activity)


class Server:
    def __init__(self, cfg):
        self.cfg = cfg
        self.auth_enabled = bool(cfg.get("user"))
        self.server = R.RTSPServer()
        self.server.set_address(cfg.get("host", "127.0.0.1"))
        self.server.set_service(str(cfg.get("port", 0)))
        if self.auth_enabled:
            auth = R.RTSPAuth()
            token = R.RTSPToken.new_empty() if hasattr(R.RTSPToken, "new_empty") else R.RTSPToken()
            token.set_string("media.factory.role", "user")
            auth.add_basic(R.RTSPAuth.make_basic(cfg["user"], cfg["password"]), token)
            auth.add_digest(cfg["user"], cfg["password"], token)
            # gi exposes the method as an enum, not flags: digest is what real cameras challenge with;
            # basic credentials sent up front are still accepted.
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.set_realm("camsim")
            self.server.set_auth(auth)
        self.cameras = {}
        for spec in cfg["cameras"]:
            cam = Camera(spec)
            self.cameras[cam.id] = cam
            self.mount(cam)

    def mount(self, cam):
        mounts = self.server.get_mount_points()
        for s in cam.streams.values():
            mounts.add_factory(s.path, s.make_factory(self.cfg, self.auth_enabled))
        cam.running = True

    def unmount(self, cam):
        mounts = self.server.get_mount_points()
        paths = []
        for s in cam.streams.values():
            mounts.remove_factory(s.path)
            paths.append(s.path)
        cam.running = False
        self.close_clients(paths)

    def close_clients(self, paths):
        def uses_paths(client):
            hit = [False]

            def sess_filter(_client, sess):
                def media_filter(_sess, sm):
                    for p in paths:
                        ok, _matched = sm.matches(p)
                        if ok:
                            hit[0] = True
                    return R.RTSPFilterResult.KEEP

                sess.filter(media_filter)
                return R.RTSPFilterResult.KEEP

            client.session_filter(sess_filter)
            return hit[0]

        def client_filter(_server, client):
            return R.RTSPFilterResult.REMOVE if uses_paths(client) else R.RTSPFilterResult.KEEP

        self.server.client_filter(client_filter)

    def start(self):
        self.source_id = self.server.attach(None)
        if not self.source_id:
            raise RuntimeError("cannot bind RTSP port %s" % self.cfg.get("port", 0))
        return self.server.get_bound_port()

    def handle(self, msg):
        cmd = msg.get("cmd")
        if cmd == "quit":
            GLib.idle_add(loop.quit)
            return
        cam = self.cameras.get(msg.get("camera"))
        if cam is None:
            raise ValueError("unknown camera %r" % msg.get("camera"))
        if cmd == "stop":
            if cam.running:
                self.unmount(cam)
        elif cmd == "start":
            if not cam.running:
                self.mount(cam)
        elif cmd == "stall":
            cam.stalled = True
            for s in cam.streams.values():
                s.set_stalled(True)
        elif cmd == "resume":
            cam.stalled = False
            for s in cam.streams.values():
                s.set_stalled(False)
        elif cmd == "resolution":
            w, h = int(msg["width"]), int(msg["height"])
            if w < 16 or h < 16 or w > 7680 or h > 4320 or w % 2 or h % 2:
                raise ValueError("resolution %dx%d out of range (even sizes 16x16..7680x4320)" % (w, h))
            cam.streams["main"].set_resolution(w, h)
        elif cmd == "jump":
            seconds = float(msg["seconds"])
            if not -3600 <= seconds <= 3600:
                raise ValueError("jump of %r s out of range (-3600..3600)" % seconds)
            cam.clock.jump(seconds)
        elif cmd == "activity":
            windows = [(int(w[0]), int(w[1])) for w in msg["windows"]]
            if any(b <= a for a, b in windows):
                raise ValueError("activity windows must be [from_ms, to_ms] with to > from")
            had = bool(cam.activity)
            cam.activity = sorted(cam.activity + windows)
            if not had:
                GLib.timeout_add(50, cam.tick)
        elif cmd == "rate":
            rate = float(msg["rate"])
            if not 0.5 <= rate <= 1.0:
                raise ValueError("clock rate %r out of range (0.5..1.0)" % rate)
            cam.clock.set_rate(rate)
        else:
            raise ValueError("unknown command %r" % cmd)


def on_command(server, line):
    try:
        msg = json.loads(line)
    except ValueError as e:
        emit({"type": "ack", "id": None, "ok": False, "error": "bad json: %s" % e})
        return False
    try:
        server.handle(msg)
        emit({"type": "ack", "id": msg.get("id"), "ok": True})
    except Exception as e:  # every failure goes back to the caller as a failed ack
        emit({"type": "ack", "id": msg.get("id"), "ok": False, "error": str(e)})
    return False


def read_stdin(server):
    for line in sys.stdin:
        line = line.strip()
        if line:
            GLib.idle_add(on_command, server, line)
    # Parent gone or closed the pipe: stop.
    GLib.idle_add(loop.quit)


def main():
    die_with_parent()
    Gst.init(None)
    first = sys.stdin.readline()
    if not first:
        return 2
    cfg = json.loads(first)
    server = Server(cfg)
    try:
        port = server.start()
    except RuntimeError as e:
        emit({"type": "fatal", "error": str(e)})
        return 1
    global loop
    loop = GLib.MainLoop()
    # GLib's handler runs inside the main loop; a Python signal handler would wait for the loop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, lambda *_: loop.quit() or False)
    threading.Thread(target=read_stdin, args=(server,), daemon=True).start()
    emit({"type": "ready", "port": port})
    loop.run()
    return 0


loop = None

if __name__ == "__main__":
    sys.exit(main())
