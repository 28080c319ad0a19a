"""Storage: the storage-api compatible service under `/storage/v1`.

Owns the `storage` schema (Supabase's `buckets` and `objects` tables, the helper functions
`foldername`, `filename`, `extension`, `search`, RLS enabled) and the object bytes, kept by a
backend (local disk under `<data_dir>/storage` by default, or S3). Requests act as the
caller, so RLS policies on `storage.objects`/`storage.buckets` decide as in Supabase; public
buckets and signed URLs are served by storage itself. Images can be transformed on the fly
(`/render/image/...`, Pillow), large files uploaded resumably (TUS 1.0 at
`/upload/resumable`; unfinished uploads under `<data_dir>/storage-tus`), and S3 clients
served at `/s3` (SigV4 with the `s3_protocol` keys). Errors use storage-api's body
(`render_storage_error`): HTTP 400 with the logical status as a string in `statusCode`
(TUS routes answer with the status itself and S3 routes with S3's XML, as their clients
expect).
"""

from pathlib import Path

from neo.core.migrations import MigrationSource
from neo.storage.errors import StorageError, render_storage_error
from neo.storage.router import PREFIX, router
from neo.storage.settings import S3ProtocolSettings, S3Settings, StorageSettings
from neo.storage.state import StorageState, start, sweep

MIGRATIONS = MigrationSource("storage", Path(__file__).with_name("migrations"))

__all__ = [
    "MIGRATIONS",
    "PREFIX",
    "S3ProtocolSettings",
    "S3Settings",
    "StorageError",
    "StorageSettings",
    "StorageState",
    "render_storage_error",
    "router",
    "start",
    "sweep",
]
