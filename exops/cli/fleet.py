"""One runbook on several clusters at once, in one process (``-c c1 -c c2 ...``).

Each cluster runs exactly as it would alone (its own lock, facts, plan,
journal entry, events, recap), in its own thread; only start-up is shared.
A cluster's output is held back and printed whole when it finishes, so
fifty clusters never interleave line by line. Restarts on several clusters
are never confirmed interactively: ``--yes`` (or ``--dry-run``) is required.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TextIO

from exops.cli.execute import RunOptions, run
from exops.cli.read import Env, stderr
from exops.errors import ExopsError, UsageError
from exops.exitcodes import ExitCode

# When clusters end differently, the exit code reports the most serious.
SEVERITY = (
    ExitCode.INTERRUPTED,
    ExitCode.FAILED,
    ExitCode.LOCKED,
    ExitCode.USAGE,
    ExitCode.REFUSED,
    ExitCode.CHANGES_PENDING,
    ExitCode.OK,
)


class _PerThread(io.TextIOBase):
    """A stream that writes to the current thread's buffer, if it has one."""

    def __init__(self, real: TextIO):
        self.real = real
        self.local = threading.local()

    def write(self, text: str) -> int:
        buffer = getattr(self.local, "buffer", None)
        return (buffer or self.real).write(text)

    def flush(self) -> None:
        if getattr(self.local, "buffer", None) is None:
            self.real.flush()

    def isatty(self) -> bool:
        return False if getattr(self.local, "buffer", None) is not None else self.real.isatty()

    def fileno(self) -> int:
        return self.real.fileno()


@contextmanager
def _routed() -> Iterator[tuple[_PerThread, _PerThread]]:
    out, err = _PerThread(sys.stdout), _PerThread(sys.stderr)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = out.real, err.real


def run_fleet(
    env: Env,
    runbook: str,
    clusters: list[str],
    params_for: Callable[[str], dict[str, Any]],
    opts: RunOptions,
) -> int:
    """Run ``runbook`` on every cluster concurrently; the worst exit code wins.

    Raises:
        UsageError: a cluster is named twice or unknown, or restarts without --yes.
    """
    if len(set(clusters)) != len(clusters):
        raise UsageError("--cluster: a cluster is named twice")
    for c in clusters:
        env.inventory.cluster(c)
    if not (opts.yes or opts.dry_run):
        raise UsageError(
            f"{len(clusters)} clusters: pass --yes to run unattended, or --dry-run to see the plans"
        )
    if opts.out is not None:
        raise UsageError("--out takes one cluster; run `exops plan` per cluster to save plans")
    params = {c: params_for(c) for c in clusters}  # bad input fails before any thread starts
    results: dict[str, tuple[int, str, str]] = {}
    cancel = threading.Event()
    with _routed() as (out, err), ThreadPoolExecutor(max_workers=len(clusters)) as pool:
        one = _one_cluster(env, runbook, params, replace(opts, fleet=True, cancel=cancel), out, err)
        futures = {pool.submit(one, c): c for c in clusters}
        for done in _completed(futures, cancel):
            cluster = futures[done]
            results[cluster] = done.result()
            code, text_out, text_err = results[cluster]
            if not opts.json_out:
                out.real.write(f"\n=== cluster {cluster}: exit {code} ===\n{text_out}")
                out.real.flush()
            err.real.write(text_err)
    if opts.json_out:
        runs = []
        for c in clusters:
            code, text_out, _ = results[c]
            runs.append({"cluster": c, "exit_code": code, "result": _json_or_text(text_out)})
        doc = {"schema": "exops.fleet/1", "runbook": runbook, "runs": runs}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    codes = [results[c][0] for c in clusters]
    summary = ", ".join(f"{c}={results[c][0]}" for c in clusters)
    stderr().print(f"fleet: {len(clusters)} clusters; exit codes {summary}")
    return int(next(s for s in SEVERITY if s in codes) if codes else ExitCode.OK)


def _completed(futures: dict[Any, str], cancel: threading.Event) -> Iterator[Any]:
    """Futures as they finish; on Ctrl-C every cluster's wait stops at its next poll
    (each run is then journalled as interrupted and its lock released)."""
    try:
        yield from as_completed(futures)
    except KeyboardInterrupt:
        cancel.set()
        yield from as_completed(futures)


def _one_cluster(
    env: Env,
    runbook: str,
    params: dict[str, dict[str, Any]],
    opts: RunOptions,
    out: _PerThread,
    err: _PerThread,
) -> Callable[[str], tuple[int, str, str]]:
    def work(cluster: str) -> tuple[int, str, str]:
        out.local.buffer, err.local.buffer = io.StringIO(), io.StringIO()
        try:
            code = run(env, runbook, cluster, params[cluster], opts)
        except ExopsError as exc:
            err.local.buffer.write(f"exops: error: {cluster}: {exc}\n")
            code = exc.exit_code
        except KeyboardInterrupt:
            code = int(ExitCode.INTERRUPTED)
        finally:
            text_out, text_err = out.local.buffer.getvalue(), err.local.buffer.getvalue()
            out.local.buffer = err.local.buffer = None
        return code, text_out, text_err

    return work


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
