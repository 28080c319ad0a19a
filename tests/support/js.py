"""Run the official supabase-js client (npm, pinned in tests/js/package.json) from tests.

A test passes an ES-module script body; the script sees `createClient` imported, the env
variables `SUPABASE_URL` and `SUPABASE_KEY`, and must print one JSON document to stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).parents[1] / "js"
# Node 20 has no global WebSocket; supabase-js's realtime client needs one to construct.
PRELUDE = (
    "import { createClient } from '@supabase/supabase-js';\n"
    "import WebSocket from 'ws';\n"
    "globalThis.WebSocket ??= WebSocket;\n"
)


def ensure_installed() -> None:
    """`npm ci` the pinned clients once (a fresh machine has no node_modules)."""
    if not (JS_DIR / "node_modules" / "@supabase" / "supabase-js").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=JS_DIR,
            check=True,
            timeout=300,
        )


def run_js(script: str, *, url: str, key: str, timeout: float = 60) -> Any:
    """Run `script` with node and return the JSON it printed."""
    ensure_installed()
    env = os.environ | {"SUPABASE_URL": url, "SUPABASE_KEY": key}
    result = subprocess.run(
        ["node", "--input-type=module", "-e", PRELUDE + script],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"node failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
