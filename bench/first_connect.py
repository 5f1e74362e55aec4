"""Run exops (``python bench/first_connect.py ARGS...`` = ``exops ARGS...``) and print,
on stderr, the CPU seconds the process had spent (user + system, since it
started: the interpreter's own start-up included) when it first connected to
an appliance (any address but 127.0.0.1, where the lab's control API
listens). That is what start-up costs on an idle core: a loaded machine adds
waiting for a core, which the wall figure shows and this one does not.
"""

from __future__ import annotations

import runpy
import sys
import time
from typing import Any

_seen: list[bool] = []


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or _seen:
        return
    address = args[1]
    if isinstance(address, tuple) and address and address[0] not in ("127.0.0.1", "::1"):
        _seen.append(True)
        cpu = time.process_time()  # CLOCK_PROCESS_CPUTIME_ID: since the process started
        print(f"FIRST-CONNECT cpu {cpu:.3f}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.addaudithook(_hook)
    sys.argv = ["exops", *sys.argv[1:]]
    runpy.run_module("exops", run_name="__main__", alter_sys=True)
