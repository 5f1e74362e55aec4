"""The floor: a minimal asyncio + httpx script making the same reads as `exops status`.

Reads every path of bench/paths.py from every peer of a lab inventory, one
keep-alive client per peer, all peers concurrently, and prints one JSON
document (peer -> number of answers), so its work matches exops's.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from paths import READS


async def peer(host: dict, auth: tuple[str, str], ctx: ssl.SSLContext) -> int:
    base = f"https://{host['hostname']}:{host.get('port', 443)}"
    async with httpx.AsyncClient(base_url=base, auth=auth, verify=ctx, timeout=20) as client:
        ok = 0
        for path in READS:
            response = await client.get(path)
            ok += response.status_code == 200
            if path.startswith("/api/provisioning/certs"):
                response.text  # noqa: B018 - read like exops does
            else:
                response.json()
        return ok


async def main() -> None:
    inventory = Path(os.environ["EXOPS_INVENTORY"])
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    ctx = ssl.create_default_context(cafile=os.environ["EXOPS_CA_BUNDLE"])
    auth = ("admin", os.environ["EXOPS_PASSWORD"])
    names = list(hosts)
    counts = await asyncio.gather(*(peer(hosts[n], auth, ctx) for n in names))
    print(json.dumps(dict(zip(names, counts, strict=True))))


if __name__ == "__main__":
    asyncio.run(main())
