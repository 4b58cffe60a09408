#!/usr/bin/python3
"""Keyframe decoder of edge/preview: one long-lived process for every camera of the edge.

Run by edge/preview/decoder.ts with /usr/bin/python3 (the distro python has gi). Requests are JSON
lines on stdin, one keyframe each (the recorded sample as stored, AVCC/HVCC, plus the track's
codec data); answers are JSON lines on stdout, in order:
  in:  {"id": n, "key": "cam1/sub", "codec": "h264"|"h265", "codecData": b64, "sample": b64,
        "width": 160, "height": 90, "quality": 50, "jpeg": bool (default true)}
  out: {"id": n, "ok": true, "jpeg": b64 ("" unless asked), "gray": b64 (Y plane, width*height bytes)}
       {"id": n, "ok": false, "error": "..."}
One decoding pipeline per stream key lives as long as its codec data does; only keyframes are
ever pushed, so the decoder never needs a reference picture. This process must not outlive its
parent: EOF on stdin or the parent's death ends it.
"""
import base64
import ctypes
import json
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)
    except OSError:
        pass


class Decoder:
    def __init__(self, codec, codec_data, width, height, quality):
        self.sig = (codec, codec_data, width, height, quality)
        caps = "video/x-h265,stream-format=hvc1,alignment=au" if codec == "h265" else "video/x-h264,stream-format=avc,alignment=au"
        parse, dec = ("h265parse", "avdec_h265") if codec == "h265" else ("h264parse", "avdec_h264")
        desc = (
            "appsrc name=src format=time caps=%s,codec_data=(buffer)%s ! %s ! %s max-threads=1 ! videoconvert ! videoscale ! "
            "video/x-raw,format=I420,width=%d,height=%d,pixel-aspect-ratio=1/1 ! tee name=t "
            "t. ! queue ! valve name=jv drop=true drop-mode=forward-sticky-events ! jpegenc quality=%d ! appsink name=jpg sync=false max-buffers=8 "
            "t. ! queue ! appsink name=raw sync=false max-buffers=8"
            % (caps, codec_data.hex(), parse, dec, width, height, quality)
        )
        self.pipeline = Gst.parse_launch(desc)
        self.src = self.pipeline.get_by_name("src")
        self.jpg = self.pipeline.get_by_name("jpg")
        # JPEG only for the keyframes that become thumbnails; activity needs only the raw picture.
        self.jv = self.pipeline.get_by_name("jv")
        self.raw = self.pipeline.get_by_name("raw")
        self.width, self.height = width, height
        self.pts = 0
        self.pipeline.set_state(Gst.State.PLAYING)

    def push(self, sample, pts):
        buf = Gst.Buffer.new_wrapped(sample)
        buf.pts = pts
        buf.dts = pts
        buf.duration = Gst.SECOND
        if self.src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            raise RuntimeError("decoder refused the keyframe")

    def pull(self, sink, pts):
        """The output for `pts`; older ones (a decoder that held a picture back) are skipped."""
        while True:
            s = sink.emit("try-pull-sample", 700 * Gst.MSECOND)
            if s is None:
                return None
            b = s.get_buffer()
            if b.pts >= pts:
                ok, info = b.map(Gst.MapFlags.READ)
                try:
                    return bytes(info.data)
                finally:
                    b.unmap(info)

    def decode(self, sample, want_jpeg):
        self.jv.set_property("drop", not want_jpeg)
        self.pts += Gst.SECOND
        pts = self.pts
        self.push(sample, pts)
        raw = self.pull(self.raw, pts)
        tries = 0
        while raw is None and tries < 3:
            # A decoder with reordering delay holds the picture until the next one: push it again.
            tries += 1
            self.pts += Gst.SECOND
            self.push(sample, self.pts)
            raw = self.pull(self.raw, pts)
        if raw is None:
            raise RuntimeError("no picture from the decoder")
        jpeg = b""
        if want_jpeg:
            jpeg = self.pull(self.jpg, pts)
            if jpeg is None:
                raise RuntimeError("no JPEG from the encoder")
        # Drain what the duplicates produced so the next request starts clean.
        for sink in (self.jpg, self.raw):
            while sink.emit("try-pull-sample", 0) is not None:
                pass
        return jpeg, raw[: self.width * self.height]

    def close(self):
        self.pipeline.set_state(Gst.State.NULL)


def main():
    die_with_parent()
    Gst.init(None)
    decoders = {}
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        rid = None
        try:
            msg = json.loads(line)
            rid = msg.get("id")
            sig = (msg["codec"], base64.b64decode(msg["codecData"]), int(msg["width"]), int(msg["height"]), int(msg.get("quality", 50)))
            d = decoders.get(msg["key"])
            if d is not None and d.sig != sig:
                d.close()
                d = None
            if d is None:
                d = decoders[msg["key"]] = Decoder(*sig)
            jpeg, gray = d.decode(base64.b64decode(msg["sample"]), bool(msg.get("jpeg", True)))
            ans = {"id": rid, "ok": True, "jpeg": base64.b64encode(jpeg).decode(), "gray": base64.b64encode(gray).decode()}
        except Exception as e:  # every failure goes back to the caller
            bad = decoders.pop(msg.get("key"), None) if isinstance(locals().get("msg"), dict) else None
            if bad is not None:
                bad.close()
            ans = {"id": rid, "ok": False, "error": str(e)}
        out.write(json.dumps(ans) + "\n")
        out.flush()
    for d in decoders.values():
        d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
