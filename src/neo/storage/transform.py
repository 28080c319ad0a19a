"""Image transformations (`/render/image/...`): resize, re-encode, quality, with Pillow.

The parameters are storage-api's (imgproxy's): `width`, `height` (1-2500), `resize`
(`cover` crops to fill the box, `contain` fits inside it, `fill` stretches), `format`
(`origin` keeps the type; `webp`, `avif`, `png`, `jpeg`) and `quality` (20-100). An image
is decoded in memory, so only objects up to `storage.image_max_bytes` and 50 megapixels are
transformed; the work runs in a thread, off the event loop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from neo.storage.errors import InvalidRequest

FORMATS = {"webp": "WEBP", "avif": "AVIF", "png": "PNG", "jpeg": "JPEG", "jpg": "JPEG"}
MIME = {"WEBP": "image/webp", "AVIF": "image/avif", "PNG": "image/png", "JPEG": "image/jpeg",
        "GIF": "image/gif"}  # fmt: skip
OUTPUT = set(MIME)  # formats an `origin` transformation keeps
MAX_SIDE = 2500
MAX_PIXELS = 50_000_000
# What Pillow raises for bytes it cannot read or write as an image: unknown, truncated or
# corrupt data (its decoders also raise SyntaxError, EOFError and struct.error), pixel bombs.
_UNREADABLE = (
    UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error,
    Image.DecompressionBombError,
)  # fmt: skip


@dataclass(frozen=True)
class Transform:
    """One requested transformation."""

    width: int | None = None
    height: int | None = None
    resize: str = "cover"
    format: str = "origin"
    quality: int = 80

    def encode(self) -> str:
        """The `transformations` claim of a signed URL (`width:100,height:50,...`)."""
        fields = {"width": self.width, "height": self.height, "resize": self.resize}
        fields |= {"format": self.format, "quality": self.quality}
        return ",".join(f"{k}:{v}" for k, v in fields.items() if v is not None)


def _int(value: Any, name: str, low: int, high: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{name} must be an integer") from None
    if not low <= number <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}")
    return number


def parse_transform(params: dict[str, Any]) -> Transform:
    """A Transform from query parameters or a signed URL's `transform` object."""
    resize = str(params.get("resize") or "cover").lower()
    fmt = str(params.get("format") or "origin").lower()
    if resize not in {"cover", "contain", "fill"}:
        raise InvalidRequest("resize must be cover, contain or fill")
    if fmt != "origin" and fmt not in FORMATS:
        raise InvalidRequest(f"format {fmt} is not supported")
    return Transform(
        width=_int(params.get("width"), "width", 1, MAX_SIDE),
        height=_int(params.get("height"), "height", 1, MAX_SIDE),
        resize=resize,
        format=fmt,
        quality=_int(params.get("quality"), "quality", 20, 100) or 80,
    )


def decode_claim(claim: str) -> Transform:
    """A Transform from a signed URL's `transformations` claim."""
    pairs = (item.split(":", 1) for item in claim.split(",") if ":" in item)
    return parse_transform(dict(pairs))


def _box(size: tuple[int, int], t: Transform) -> tuple[int, int] | None:
    width, height = size
    if t.width and t.height:
        return t.width, t.height
    if t.width:
        return t.width, max(1, round(height * t.width / width))
    if t.height:
        return max(1, round(width * t.height / height)), t.height
    return None


def _contained(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest size of `size`'s aspect ratio inside `box`, never a side of 0 pixels."""
    scale = min(box[0] / size[0], box[1] / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _encodable(img: Image.Image, fmt: str) -> Image.Image:
    """`img` in a mode `fmt` can encode (16-bit, float and CMYK images become RGB/RGBA)."""
    keep = {"JPEG": {"RGB", "L"}, "GIF": {"P", "L"}}.get(fmt, {"RGB", "RGBA", "L", "LA", "P", "1"})
    if img.mode in keep:
        return img
    alpha = "A" in img.mode or "transparency" in img.info
    return img.convert("RGBA" if alpha and fmt != "JPEG" else "RGB")


def render_image(data: bytes, t: Transform) -> tuple[bytes, str]:
    """The transformed image and its MIME type (blocking: run it in a thread).

    Whatever the bytes are (not an image, truncated, a pixel bomb, an odd mode), the answer
    is the image or InvalidRequest: an image is decoded only when its header declares at
    most `MAX_PIXELS` (Supabase's documented limit), and a source format other than those
    listed in `OUTPUT` is re-encoded as PNG for `origin`."""
    try:
        source = Image.open(BytesIO(data))
        if source.size[0] * source.size[1] > MAX_PIXELS:
            raise InvalidRequest("The image's resolution exceeds 50 megapixels")
        origin = source.format if source.format in OUTPUT else "PNG"
        img = ImageOps.exif_transpose(source)
        box = _box(img.size, t)
        if box is not None:
            if t.resize == "fill":
                img = img.resize(box)
            elif t.resize == "contain":
                img = img.resize(_contained(img.size, box))
            else:
                img = ImageOps.fit(img, box)
        fmt = FORMATS[t.format] if t.format != "origin" else origin
        out = BytesIO()
        _encodable(img, fmt).save(out, format=fmt, quality=t.quality)
    except _UNREADABLE:
        raise InvalidRequest("The object is not an image that can be transformed") from None
    return out.getvalue(), MIME[fmt]
