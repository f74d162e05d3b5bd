"""aiortc clients that talk WHIP/WHEP to a real server, and synthetic media.

Used by the video tests and `benchmarks/video_relay.py`.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)


class SyntheticVideo(MediaStreamTrack):
    """Frames of `width`x`height` in pixel format `fmt` at `fps`, changing every
    frame (a moving gradient), so encoders do real work. `pause()` stops the
    frames without ending the track (a publisher that vanishes)."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 15,
                 fmt: str = "yuv420p") -> None:
        super().__init__()
        self.width, self.height, self.fps, self.fmt = width, height, fps, fmt
        self.sent = 0
        self._start: float | None = None
        self._paused = asyncio.Event()
        self._paused.set()
        # one row per pixel format plane, shifted per frame to make motion
        self._base = [bytes((x * 7 + y) % 256 for x in range(4096)) for y in range(8)]

    def pause(self) -> None:
        self._paused.clear()

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = width, height

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._paused.wait()
        # At most `fps`: a frame is due 1/fps after the last one; when late (a
        # loaded machine) it goes at once, without a burst to catch up.
        now = time.monotonic()
        due = now if self._start is None else self._start + 1 / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        self._start = max(due, now)
        frame = av.VideoFrame(self.width, self.height, self.fmt)
        shift = (self.sent * 5) % 256
        for i, plane in enumerate(frame.planes):
            row = self._base[i % len(self._base)][shift:shift + plane.line_size]
            row = (row * (plane.line_size // max(len(row), 1) + 1))[:plane.line_size]
            plane.update(row * (plane.buffer_size // plane.line_size))
        frame.pts = int(self.sent * 90000 / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return frame


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


@dataclass
class Exchange:
    status: int
    body: str
    location: str | None
    pc: RTCPeerConnection
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)

    @property
    def code(self) -> str | None:
        import json

        try:
            return str(json.loads(self.body)["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None


async def _post_offer(http: aiohttp.ClientSession, url: str, token: str,
                      pc: RTCPeerConnection) -> tuple[int, str, str | None]:
    offer = await pc.createOffer()
    await pc.setLocalDescription(offer)
    async with http.post(url, data=pc.localDescription.sdp, headers={
            "Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.text(), r.headers.get("Location")


async def whip(http: aiohttp.ClientSession, base: str, room_id: str, token: str,
               *tracks: MediaStreamTrack) -> Exchange:
    """Publish `tracks`; on 201 the answer is applied and media flows."""
    pc = new_pc()
    for track in tracks:
        pc.addTransceiver(track, direction="sendonly")
    try:
        status, body, location = await _post_offer(
            http, f"{base}/api/v1/rooms/{room_id}/whip", token, pc)
    except BaseException:
        await pc.close()
        raise
    if status == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    else:
        await pc.close()
    return Exchange(status, body, location, pc)


async def whep(http: aiohttp.ClientSession, url: str, token: str | None,
               kinds: tuple[str, ...] = ("video", "audio")) -> Exchange:
    """Watch: `url` is a WHEP endpoint (ours or an external one)."""
    pc = new_pc()
    ex = Exchange(0, "", None, pc)
    pc.on("track", lambda t: ex.tracks.setdefault(t.kind, t))
    for kind in kinds:
        pc.addTransceiver(kind, direction="recvonly")
    offer = await pc.createOffer()
    await pc.setLocalDescription(offer)
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with http.post(url, data=pc.localDescription.sdp, headers=headers) as r:
            ex.status, ex.body, ex.location = r.status, await r.text(), r.headers.get("Location")
    except BaseException:
        await pc.close()
        raise
    if ex.status == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=ex.body, type="answer"))
    else:
        await pc.close()
    return ex


async def frames(track: MediaStreamTrack, count: int,
                 timeout: float = 30.0) -> list[Any]:  # noqa: ASYNC109
    """The next `count` frames of `track` (fails after `timeout` seconds)."""
    out: list[Any] = []

    async def take() -> None:
        while len(out) < count:
            out.append(await track.recv())

    await asyncio.wait_for(take(), timeout)
    return out


async def delete(http: aiohttp.ClientSession, base: str, location: str,
                 token: str) -> int:
    async with http.delete(base + location,
                           headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status


__all__ = ["AudioStreamTrack", "Exchange", "SyntheticVideo", "delete", "frames", "new_pc",
           "whep", "whip"]


def write_hls(directory: Any, seconds: int = 8, width: int = 320, height: int = 240,
              fps: int = 15) -> str:
    """A real HLS stream (H.264 in MPEG-TS segments of 1 s, VOD playlist) of a
    moving picture, written with PyAV's libx264; returns the playlist's name."""
    import os

    playlist = os.path.join(str(directory), "index.m3u8")
    out = av.open(playlist, "w", format="hls", options={
        "hls_time": "1", "hls_list_size": "0", "hls_playlist_type": "vod",
        "hls_segment_filename": os.path.join(str(directory), "seg%03d.ts")})
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"preset": "ultrafast", "g": str(fps), "keyint_min": str(fps),
                      "sc_threshold": "0"}
    for i in range(seconds * fps):
        frame = av.VideoFrame(width, height, "yuv420p")
        luma, *chroma = frame.planes
        x0 = (i * 8) % width  # a bright bar crossing a grey picture
        row = bytes(235 if x0 <= x < x0 + width // 8 else 60 for x in range(luma.line_size))
        luma.update(row * (luma.buffer_size // luma.line_size))
        for p, plane in enumerate(chroma):  # the colour drifts too
            plane.update(bytes([(i * 3 + p * 90) % 256]) * plane.buffer_size)
        frame.pts = i
        frame.time_base = fractions.Fraction(1, fps)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return "index.m3u8"
