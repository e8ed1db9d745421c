"""Printable QR door plates (门牌) for buildings and rooms.

The QR code holds the absolute URL of the address's page, so scanning a plate with a phone
opens that address (after login). SVG is crisp at any print size; PNG is for messaging apps.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw, ImageFont

from registry.models import Address

# Debian's fonts-noto-cjk; without it Chinese text would come out as boxes in the PNG.
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


def _qr(url: str) -> segno.QRCode:
    return segno.make_qr(url, error="m")


def plate_svg(address: Address, url: str, compound_name: str) -> str:
    """An SVG door plate: compound name, address, QR code and the standard-address code."""
    qr = _qr(url)
    size = qr.symbol_size(scale=4, border=2)[0]
    buf = io.BytesIO()
    qr.save(buf, kind="svg", scale=4, border=2, xmldecl=False, svgns=True, nl=False)
    qr_svg = buf.getvalue().decode()
    width, height = 360, size + 110
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Noto Sans CJK SC, sans-serif">'
        f'<rect x="1" y="1" width="{width - 2}" height="{height - 2}" rx="10" fill="#fff" stroke="#0d3b66" '
        f'stroke-width="2"/><rect x="1" y="1" width="{width - 2}" height="34" rx="10" fill="#0d3b66"/>'
        f'<text x="{width / 2}" y="24" fill="#fff" font-size="16" text-anchor="middle">{escape(compound_name)}</text>'
        f'<text x="{width / 2}" y="62" font-size="20" font-weight="bold" text-anchor="middle">'
        f"{escape(address.full_name.removeprefix(compound_name))}</text>"
        f'<g transform="translate({(width - size) / 2},72)">{qr_svg}</g>'
        f'<text x="{width / 2}" y="{height - 12}" font-size="12" text-anchor="middle" fill="#555">'
        f"{escape(address.code)}</text></svg>"
    )


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in CJK_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def plate_png(address: Address, url: str, compound_name: str) -> bytes:
    """The same plate as a PNG (600 px wide)."""
    qr_png = io.BytesIO()
    _qr(url).save(qr_png, kind="png", scale=8, border=2)
    qr_img = Image.open(io.BytesIO(qr_png.getvalue())).convert("RGB")
    width = 600
    height = qr_img.height + 190
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((2, 2, width - 3, height - 3), radius=16, outline="#0d3b66", width=4)
    draw.rounded_rectangle((2, 2, width - 3, 58), radius=16, fill="#0d3b66")
    draw.text((width / 2, 30), compound_name, font=_font(28), fill="white", anchor="mm")
    draw.text((width / 2, 98), address.full_name.removeprefix(compound_name), font=_font(36), fill="black", anchor="mm")
    img.paste(qr_img, ((width - qr_img.width) // 2, 125))
    draw.text((width / 2, height - 30), address.code, font=_font(20), fill="#555555", anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
