"""Image transformations (`/render/image/...`): resize, re-encode, quality, with Pillow.

The parameters are storage-api's (imgproxy's): `width`, `height` (1-2500), `resize`
(`cover` crops to fill the box, `contain` fits inside it, `fill` stretches), `format`
(`origin` keeps the type; `webp`, `avif`, `png`, `jpeg`) and `quality` (20-100). An image
is decoded in memory, so only objects up to `storage.image_max_bytes` are transformed; the
work runs in a thread, off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from neo.storage.errors import InvalidRequest

FORMATS = {"webp": "WEBP", "avif": "AVIF", "png": "PNG", "jpeg": "JPEG", "jpg": "JPEG"}
MIME = {"WEBP": "image/webp", "AVIF": "image/avif", "PNG": "image/png", "JPEG": "image/jpeg"}
MAX_SIDE = 2500


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


def render_image(data: bytes, t: Transform) -> tuple[bytes, str]:
    """The transformed image and its MIME type (blocking: run it in a thread)."""
    try:
        source = Image.open(BytesIO(data))
        fmt = source.format or "PNG"
        img = ImageOps.exif_transpose(source)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise InvalidRequest("The object is not an image that can be transformed") from None
    box = _box(img.size, t)
    if box is not None:
        if t.resize == "fill":
            img = img.resize(box)
        elif t.resize == "contain":
            img = ImageOps.contain(img, box)
        else:
            img = ImageOps.fit(img, box)
    fmt = FORMATS[t.format] if t.format != "origin" else fmt
    if fmt == "JPEG" and img.mode not in {"RGB", "L"}:
        img = img.convert("RGB")
    out = BytesIO()
    img.save(out, format=fmt, quality=t.quality)
    return out.getvalue(), MIME.get(fmt, f"image/{fmt.lower()}")
