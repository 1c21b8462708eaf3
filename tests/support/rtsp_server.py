#!/usr/bin/python3
"""Test RTSP server (GStreamer RTSP server through python3-gi).

usage: /usr/bin/python3 rtsp_server.py PORT MOUNT=SPEC [MOUNT=SPEC ...]

SPEC is one of
  mp4:PATH    an MP4 file of pre-encoded H.264, sent as is (no re-encode), real time
  ts:PATH     an MPEG-TS file of H.264 (e.g. two resolutions back to back)
  live:WxH    a live test pattern (a ball on black), x264 at 25 fps, 1 s GOP
  live:WxH@K  the same at about K kbit/s (a noisy pattern, so the bits are spent)
  bars:WxH    the same with SMPTE colour bars (bright all over: privacy mask tests)

Prints READY when listening. Kill it (SIGTERM/SIGKILL) to make the cameras drop;
start it again on the same port to make them return.
Needs: apt-get install -y python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
       gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PAY = "rtph264pay name=pay0 pt=96 config-interval=-1"


def launch(kind, val):
    if kind == "mp4":
        return f"( filesrc location={val} ! qtdemux ! h264parse ! {PAY} )"
    if kind == "ts":
        return f"( filesrc location={val} ! tsdemux ! h264parse ! {PAY} )"
    if kind in ("live", "bars"):
        size, _, kbps = val.partition("@")
        w, h = size.split("x")
        pattern, rate = ("ball" if kind == "live" else "smpte"), ""
        if kbps:
            pattern, rate = "snow", f"bitrate={int(kbps)} pass=cbr "
        # threads=1: one slice per picture. With sliced threads rtph264pay's
        # config-interval=-1 puts SPS/PPS before every IDR slice, which splits
        # one picture into two access units for any decoder.
        return (
            f"( videotestsrc is-live=true pattern={pattern} ! "
            f"video/x-raw,width={w},height={h},framerate=25/1 ! "
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 threads=1 {rate}! "
            f"video/x-h264,profile=baseline ! {PAY} )"
        )
    raise SystemExit(f"unknown source kind {kind!r}")


def main():
    Gst.init(None)
    port = sys.argv[1]
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    mounts = server.get_mount_points()
    for arg in sys.argv[2:]:
        mount, spec = arg.split("=", 1)
        kind, val = spec.split(":", 1)
        f = GstRtspServer.RTSPMediaFactory()
        f.set_launch(launch(kind, val))
        # A live camera is one stream for all viewers; a file starts over per client.
        f.set_shared(kind in ("live", "bars"))
        mounts.add_factory(mount, f)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on port {port}")
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
