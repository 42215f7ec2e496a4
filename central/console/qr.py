"""The enrolment code as a QR code (SVG, made by the ``qrcode`` package) and as the
command a site's operator types: both carry the central URL, the code and, over HTTPS,
the certificate fingerprint the site pins."""

from __future__ import annotations

import io
import shlex
from urllib.parse import urlencode


def enrol_payload(central_url: str, code: str, fingerprint: str | None) -> str:
    query = {"url": central_url, "code": code} | ({"fp": fingerprint} if fingerprint else {})
    return "structura-enrol:?" + urlencode(query)


def enrol_command(central_url: str, code: str, fingerprint: str | None) -> str:
    args = ["structura", "sync", "enroll", central_url, code]
    if fingerprint:
        args += ["--fingerprint", fingerprint]
    return shlex.join(args)


def svg(payload: str) -> str:
    """An inline SVG (path, no raster): sharp at any size, no data: URL, fine with CSP."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(payload, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buf = io.BytesIO()
    img.save(buf)
    text = buf.getvalue().decode("utf-8")
    # Drop the XML declaration: the SVG goes inside the HTML page.
    return text[text.index("<svg") :]
