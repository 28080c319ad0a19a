"""storage-js (through supabase-js) against a live NEO: every route the JS client calls,
with raw (Buffer) and multipart (Blob) uploads, and RLS with a user token."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY
from tests.storage.conftest import user_token
from tests.support.js import run_js

pytestmark = pytest.mark.usefixtures("policies")

CHECK = """
const check = (label, r) => {
  if (r.error) throw new Error(label + ': ' + JSON.stringify(r.error));
  return r.data;
};
const text = { contentType: 'text/plain' };
const sb = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY);
"""

BUCKETS_AND_OBJECTS = (
    CHECK
    + """
const name = process.env.BUCKET;
const out = {};
const opts = { public: true, fileSizeLimit: '1MB', allowedMimeTypes: ['text/*', 'image/png'] };
out.created = check('create', await sb.storage.createBucket(name, opts));
out.bucket = check('get', await sb.storage.getBucket(name));
out.listed = check('list', await sb.storage.listBuckets()).map((b) => b.id).includes(name);
const files = sb.storage.from(name);
const meta = { ...text, metadata: { a: 1 } };
out.raw = check('raw', await files.upload('dir/raw.txt', Buffer.from('raw body'), meta));
const blob = new Blob(['blob body'], { type: 'text/plain' });
out.blob = check('blob', await files.upload('dir/blob.txt', blob));
out.rawText = await check('dl', await files.download('dir/raw.txt')).text();
out.blobText = await check('dl2', await files.download('dir/blob.txt')).text();
out.info = check('info', await files.info('dir/raw.txt'));
out.exists = check('exists', await files.exists('dir/raw.txt'));
const missing = await files.exists('dir/none.txt');
out.missing = missing.data;
out.list = check('list', await files.list('dir')).map((e) => e.name);
out.move = check('move', await files.move('dir/raw.txt', 'moved.txt'));
out.copy = check('copy', await files.copy('moved.txt', 'copied.txt'));
out.signed = check('sign', await files.createSignedUrl('copied.txt', 60));
out.signedBody = await (await fetch(out.signed.signedUrl)).text();
const many = await files.createSignedUrls(['copied.txt', 'nope.txt'], 60);
out.signedMany = check('signMany', many).map((x) => x.error);
const up = check('signUpload', await files.createSignedUploadUrl('signed/up.txt'));
const body = Buffer.from('signed up');
out.uploaded = check('up', await files.uploadToSignedUrl('signed/up.txt', up.token, body, text));
out.upText = await check('dl3', await files.download('signed/up.txt')).text();
out.publicBody = await (await fetch(files.getPublicUrl('copied.txt').data.publicUrl)).text();
const tooBig = await files.upload('big.txt', Buffer.alloc(1100000), text);
out.tooBig = tooBig.error && tooBig.error.statusCode;
const badMime = await files.upload('x.pdf', Buffer.from('x'), { contentType: 'application/pdf' });
out.badMime = badMime.error && badMime.error.statusCode;
out.updated = check('update', await sb.storage.updateBucket(name, { public: false }));
const removed = await files.remove(['moved.txt', 'copied.txt']);
out.removed = check('remove', removed).map((r) => r.name).sort();
out.emptied = check('empty', await sb.storage.emptyBucket(name));
out.deleted = check('delete', await sb.storage.deleteBucket(name));
console.log(JSON.stringify(out));
"""
)


def test_storage_js_covers_bucket_and_object_routes(server_url: str) -> None:
    bucket = f"js-{uuid.uuid4().hex[:8]}"
    out: dict[str, Any] = run_js(
        f"process.env.BUCKET = {bucket!r};\n" + BUCKETS_AND_OBJECTS,
        url=server_url,
        key=DEMO_SERVICE_KEY,
    )
    assert out["created"] == {"name": bucket}
    assert out["bucket"]["public"] is True
    assert out["bucket"]["file_size_limit"] == 1_000_000
    assert out["listed"] is True
    assert out["raw"]["path"] == "dir/raw.txt"
    assert out["raw"]["fullPath"] == f"{bucket}/dir/raw.txt"
    assert (out["rawText"], out["blobText"]) == ("raw body", "blob body")
    assert out["info"]["metadata"] == {"a": 1}
    assert out["info"]["size"] == 8
    assert (out["exists"], out["missing"]) == (True, False)
    assert out["list"] == ["blob.txt", "raw.txt"]
    assert out["move"]["message"] == "Successfully moved"
    assert out["signedBody"] == "raw body"
    assert out["signedMany"][0] is None
    assert out["signedMany"][1]
    assert out["upText"] == "signed up"
    assert out["publicBody"] == "raw body"
    assert (out["tooBig"], out["badMime"]) == ("413", "415")
    assert out["removed"] == ["copied.txt", "moved.txt"]
    assert out["deleted"]["message"] == "Successfully deleted"


OWNER_FOLDERS = (
    CHECK
    + """
const sub = process.env.SUB;
const user = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY, {
  global: { headers: { Authorization: 'Bearer ' + process.env.TOKEN } },
});
const files = user.storage.from('private');
const out = {};
out.own = check('own', await files.upload(sub + '/note.txt', Buffer.from('mine'), text));
out.text = await check('dl', await user.storage.from('private').download(sub + '/note.txt')).text();
const other = await files.upload('someone-else/note.txt', Buffer.from('x'), text);
out.otherStatus = other.error && other.error.statusCode;
const anon = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY);
const anonDl = await anon.storage.from('private').download(sub + '/note.txt');
out.anonStatus = anonDl.error && (anonDl.error.statusCode || anonDl.error.status);
console.log(JSON.stringify(out));
"""
)


def test_storage_js_user_owns_a_folder(server_url: str, service: Any) -> None:
    service.storage.create_bucket("private")
    sub = str(uuid.uuid4())
    env = f"process.env.SUB = {sub!r}; process.env.TOKEN = {user_token(sub)!r};\n"
    out = run_js(env + OWNER_FOLDERS, url=server_url, key=DEMO_ANON_KEY)
    assert out["text"] == "mine"
    assert out["otherStatus"] == "403"
    assert str(out["anonStatus"]) in {"400", "404"}
