#!/usr/bin/python3
"""Keyframe decoder of edge/preview: one long-lived process for every camera of the edge.

Run by edge/preview/decoder.ts with /usr/bin/python3 (the distro python has gi). Each request is
a JSON line on stdin followed by its raw bytes (the track's codec data, then the recorded sample
as stored, AVCC/HVCC); each answer a JSON line on stdout followed by its raw bytes, in order:
  in:  {"id": n, "key": "cam1/sub", "codec": "h264"|"h265", "codecDataLen": n, "sampleLen": n,
        "width": 160, "height": 90, "quality": 50, "jpeg": bool (default true)} + codec data + sample
       or, with "file": path and "fileAt": n, the sample is not sent: it is read from that file
       (sampleLen bytes at fileAt) — the segment was just written, so from the page cache
  out: {"id": n, "ok": true, "jpegLen": n (0 unless asked), "grayLen": n} + JPEG + Y plane
       {"id": n, "ok": false, "error": "..."} (no bytes)
Raw bytes, not base64 in JSON: the recorder's side would otherwise build ~30 KB of strings per
keyframe (more at high bitrates), memory its allocator keeps once it has held it.
One decoding pipeline per stream key lives as long as its codec data does; only keyframes are
ever pushed, so the decoder never needs a reference picture. This process must not outlive its
parent: EOF on stdin or the parent's death ends it.
"""
import ctypes
import json
import os
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
    """One decoding chain per stream, no tee and no queues (every element runs in the pushing
    thread): appsrc ! parse ! decoder ! convert ! scale ! appsink. The JPEG of a thumbnail is
    encoded from the same small raw picture by a second tiny chain, made on first use; most
    keyframes never need it (one thumbnail per 10 s, activity from every keyframe)."""

    def __init__(self, codec, codec_data, width, height, quality):
        self.sig = (codec, codec_data, width, height, quality)
        caps = "video/x-h265,stream-format=hvc1,alignment=au" if codec == "h265" else "video/x-h264,stream-format=avc,alignment=au"
        parse, dec = ("h265parse", "avdec_h265") if codec == "h265" else ("h264parse", "avdec_h264")
        desc = (
            "appsrc name=src format=time caps=%s,codec_data=(buffer)%s ! %s ! %s max-threads=1 ! videoconvert ! videoscale ! "
            "video/x-raw,format=I420,width=%d,height=%d,pixel-aspect-ratio=1/1 ! appsink name=raw sync=false max-buffers=8"
            % (caps, codec_data.hex(), parse, dec, width, height)
        )
        self.pipeline = Gst.parse_launch(desc)
        self.src = self.pipeline.get_by_name("src")
        self.raw = self.pipeline.get_by_name("raw")
        self.width, self.height, self.quality = width, height, quality
        self.pts = 0
        self.enc = None
        self.pipeline.set_state(Gst.State.PLAYING)

    def push(self, sample, pts):
        buf = Gst.Buffer.new_wrapped(sample)
        buf.pts = pts
        buf.dts = pts
        buf.duration = Gst.SECOND
        if self.src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            raise RuntimeError("decoder refused the keyframe")

    @staticmethod
    def pull(sink, pts, timeout):
        """The output for `pts`; older ones (a decoder that held a picture back) are skipped."""
        while True:
            s = sink.emit("try-pull-sample", timeout)
            if s is None:
                return None
            b = s.get_buffer()
            if b.pts >= pts:
                ok, info = b.map(Gst.MapFlags.READ)
                try:
                    return bytes(info.data)
                finally:
                    b.unmap(info)

    def jpeg(self, i420):
        if self.enc is None:
            self.enc = Gst.parse_launch(
                "appsrc name=src format=time caps=video/x-raw,format=I420,width=%d,height=%d,framerate=0/1,pixel-aspect-ratio=1/1 ! "
                "jpegenc quality=%d ! appsink name=jpg sync=false max-buffers=8" % (self.width, self.height, self.quality)
            )
            self.enc_src = self.enc.get_by_name("src")
            self.enc_sink = self.enc.get_by_name("jpg")
            self.enc_pts = 0
            self.enc.set_state(Gst.State.PLAYING)
        self.enc_pts += Gst.SECOND
        buf = Gst.Buffer.new_wrapped(i420)
        buf.pts = self.enc_pts
        if self.enc_src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            raise RuntimeError("encoder refused the picture")
        return self.pull(self.enc_sink, self.enc_pts, 2 * Gst.SECOND)

    def decode(self, sample, want_jpeg):
        self.pts += Gst.SECOND
        pts = self.pts
        self.push(sample, pts)
        raw = self.pull(self.raw, pts, 700 * Gst.MSECOND)
        tries = 0
        while raw is None and tries < 3:
            # A decoder with reordering delay holds the picture until the next one: push it again.
            tries += 1
            self.pts += Gst.SECOND
            self.push(sample, self.pts)
            raw = self.pull(self.raw, pts, 700 * Gst.MSECOND)
        if raw is None:
            raise RuntimeError("no picture from the decoder")
        # Drain what the duplicates produced so the next request starts clean.
        while self.raw.emit("try-pull-sample", 0) is not None:
            pass
        jpeg = b""
        if want_jpeg:
            jpeg = self.jpeg(raw[: self.width * self.height * 3 // 2])
            if jpeg is None:
                raise RuntimeError("no JPEG from the encoder")
        return jpeg, raw[: self.width * self.height]

    def close(self):
        self.pipeline.set_state(Gst.State.NULL)
        if self.enc is not None:
            self.enc.set_state(Gst.State.NULL)


def read_at(path, at, size):
    """size bytes at offset `at` of a segment file (the keyframe of a request by position)."""
    with open(path, "rb", buffering=0) as f:
        data = os.pread(f.fileno(), size, at)
    if len(data) != size:
        raise RuntimeError("keyframe beyond the end of %s" % path)
    return data


def main():
    die_with_parent()
    Gst.init(None)
    decoders = {}
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    while True:
        line = inp.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        # A header that does not parse leaves the byte stream unframed: end, the client restarts us.
        msg = json.loads(line)
        rid = msg.get("id")
        codec_data = inp.read(int(msg["codecDataLen"]))
        sample = b"" if "file" in msg else inp.read(int(msg["sampleLen"]))
        payload = b""
        try:
            if "file" in msg:
                sample = read_at(msg["file"], int(msg["fileAt"]), int(msg["sampleLen"]))
            sig = (msg["codec"], codec_data, int(msg["width"]), int(msg["height"]), int(msg.get("quality", 50)))
            d = decoders.get(msg["key"])
            if d is not None and d.sig != sig:
                d.close()
                d = None
            if d is None:
                d = decoders[msg["key"]] = Decoder(*sig)
            jpeg, gray = d.decode(sample, bool(msg.get("jpeg", True)))
            ans = {"id": rid, "ok": True, "jpegLen": len(jpeg), "grayLen": len(gray)}
            payload = bytes(jpeg) + bytes(gray)
        except Exception as e:  # every failure goes back to the caller
            bad = decoders.pop(msg.get("key"), None)
            if bad is not None:
                bad.close()
            ans = {"id": rid, "ok": False, "error": str(e)}
        out.write(json.dumps(ans).encode() + b"\n" + payload)
        out.flush()
    for d in decoders.values():
        d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
