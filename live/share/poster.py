"""QR codes (segno) and the share poster, as SVG text (transport-free).

The poster is 750 px wide (the width WeChat moments and group chats show
phone-sized images at), zh-CN, and carries the room title, the host, the 团长
who shares it and the QR code of the share link. Every name in it is
user-supplied text, so all of it goes through XML escaping.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape, quoteattr

import segno

FONT = ("'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC',"
        "'Source Han Sans SC',sans-serif")


def qr_code(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str, *, scale: int = 8, border: int = 4) -> str:
    buf = io.BytesIO()
    qr_code(url).save(buf, kind="svg", scale=scale, border=border, xmldecl=False,
                      title="扫码进入直播间", dark="#000", light="#fff")
    return buf.getvalue().decode()


def qr_png(url: str, *, scale: int = 8, border: int = 4) -> bytes:
    buf = io.BytesIO()
    qr_code(url).save(buf, kind="png", scale=scale, border=border)
    return buf.getvalue()


def qr_path(url: str) -> tuple[str, int]:
    """The dark modules as one SVG path in module units (runs merged), and the
    symbol's width in modules (no quiet zone)."""
    matrix = qr_code(url).matrix
    parts: list[str] = []
    for y, row in enumerate(matrix):
        x, n = 0, len(row)
        while x < n:
            if row[x] & 1:
                start = x
                while x < n and row[x] & 1:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h{start - x}z")
            else:
                x += 1
    return "".join(parts), len(matrix)


def _wrap(text: str, width: int) -> list[str]:
    """Break a title into lines of about `width` full-width characters
    (ASCII counts half), at most three lines, the last one ellipsised."""
    lines: list[str] = []
    line, used = "", 0.0
    for ch in text:
        w = 0.5 if ord(ch) < 128 else 1.0
        if used + w > width:
            lines.append(line)
            line, used = "", 0.0
        line += ch
        used += w
    if line:
        lines.append(line)
    if len(lines) > 3:
        lines = [*lines[:2], lines[2][:-1] + "…"]
    return lines or [""]


def poster_svg(*, url: str, room_title: str, host_name: str, leader_name: str,
               status: str, when: str | None = None) -> str:
    width, height = 750, 1200
    path, modules = qr_path(url)
    qr_size = 420
    qr_x, qr_y = (width - qr_size) // 2, 560
    scale = qr_size / modules
    title_lines = _wrap(room_title, 14)
    badge = {"live": "● 正在直播", "scheduled": "即将开播", "ended": "直播回放"}.get(status, "")
    title_svg = "".join(
        f'<text x="375" y="{250 + i * 62}" font-size="48" font-weight="700" '
        f'text-anchor="middle" fill="#fff">{escape(t)}</text>'
        for i, t in enumerate(title_lines))
    when_svg = (f'<text x="375" y="{250 + len(title_lines) * 62 + 10}" font-size="28" '
                f'text-anchor="middle" fill="#ffe7d6">开播时间 {escape(when)}</text>'
                if when and status == "scheduled" else "")
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" \
viewBox="0 0 {width} {height}" font-family={quoteattr(FONT)} lang="zh-CN">
<title>{escape(room_title)} · {escape(leader_name)} 邀请你看直播</title>
<defs>
<linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">
<stop offset="0" stop-color="#ff5b3a"/><stop offset="1" stop-color="#ff9a3c"/>
</linearGradient>
</defs>
<rect width="{width}" height="{height}" fill="url(#bg)"/>
<rect x="30" y="470" width="690" height="690" rx="28" fill="#fff"/>
<rect x="255" y="70" width="240" height="56" rx="28" fill="#fff" fill-opacity="0.22"/>
<text x="375" y="108" font-size="30" font-weight="700" text-anchor="middle" \
fill="#fff">{escape(badge)}</text>
<text x="375" y="175" font-size="30" text-anchor="middle" fill="#ffe7d6">\
主播 {escape(host_name)}</text>
{title_svg}
{when_svg}
<text x="375" y="535" font-size="30" text-anchor="middle" fill="#333">\
团长 <tspan font-weight="700" fill="#ff5b3a">{escape(leader_name)}</tspan> 邀请你一起看直播</text>
<g transform="translate({qr_x} {qr_y}) scale({scale:.4f})">\
<path d="{path}" fill="#000" shape-rendering="crispEdges"/></g>
<text x="375" y="1040" font-size="32" font-weight="700" text-anchor="middle" \
fill="#333">长按识别二维码 进入直播间</text>
<text x="375" y="1090" font-size="26" text-anchor="middle" fill="#999">\
直播下单 · 团长自提或快递到家</text>
</svg>
"""
