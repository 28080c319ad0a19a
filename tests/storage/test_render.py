"""Image transformations through supabase-py: authenticated, public and signed render URLs,
resize modes, format and quality, and non-images refused."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO

import httpx
import pytest
from PIL import Image
from storage3.exceptions import StorageApiError
from supabase import Client


def png(width: int, height: int) -> bytes:
    out = BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(BytesIO(data)) as img:
        return img.size


@pytest.fixture
def bucket(service: Client, new_id: Callable[[], str]) -> str:
    name = new_id()
    service.storage.create_bucket(name, options={"public": True})
    files = service.storage.from_(name)
    files.upload("img.png", png(200, 100), {"content-type": "image/png"})
    files.upload("note.txt", b"not an image", {"content-type": "text/plain"})
    return name


def test_authenticated_render_resizes(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    cover = files.download("img.png", {"transform": {"width": 50, "height": 50}})
    assert size_of(cover) == (50, 50)
    contain = files.download(
        "img.png", {"transform": {"width": 50, "height": 50, "resize": "contain"}}
    )
    assert size_of(contain) == (50, 25)
    fill = files.download("img.png", {"transform": {"width": 30, "height": 70, "resize": "fill"}})
    assert size_of(fill) == (30, 70)


def test_public_render_keeps_the_aspect_ratio(service: Client, bucket: str) -> None:
    url = service.storage.from_(bucket).get_public_url("img.png", {"transform": {"width": 100}})
    res = httpx.get(url)
    assert res.headers["content-type"] == "image/png"
    assert size_of(res.content) == (100, 50)


def test_signed_render_url_fixes_the_transformation(service: Client, bucket: str) -> None:
    files = service.storage.from_(bucket)
    transform = {"width": 20, "height": 20, "resize": "fill"}
    url = files.create_signed_url("img.png", 60, {"transform": transform})["signedURL"]
    assert "/render/image/sign/" in url
    assert size_of(httpx.get(url).content) == (20, 20)
    assert size_of(httpx.get(url + "&width=80").content) == (20, 20)


def test_format_and_quality(server_url: str, service: Client, bucket: str) -> None:
    url = f"{server_url}/storage/v1/render/image/public/{bucket}/img.png"
    res = httpx.get(url, params={"format": "webp", "quality": "50", "width": "40"})
    assert res.headers["content-type"] == "image/webp"
    assert size_of(res.content) == (40, 20)
    bad = httpx.get(url, params={"width": "0"})
    assert bad.json()["statusCode"] == "400"


def test_non_images_are_refused(service: Client, bucket: str) -> None:
    with pytest.raises(StorageApiError) as err:
        service.storage.from_(bucket).download("note.txt", {"transform": {"width": 10}})
    assert err.value.status == "400"
