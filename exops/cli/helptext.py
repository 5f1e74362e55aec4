"""What ``--help`` shows after the options: examples and exit codes, per command.

Kept here, apart from the option declarations (app.py), so each command's help
reads the same way. Paragraphs start with ``\\b``: click then keeps their lines
as written (no rewrapping).
"""

from __future__ import annotations

RUN_CODES = (
    "0 done, or nothing to change; 1 a step failed; 2 bad input; 3 refused (a preflight "
    "check or a safety rule, before any change it guards); 4 the cluster is locked by "
    "another run; 5 changes pending (--dry-run --detailed-exitcode); 6 partial (a member "
    "did not answer and was skipped); 130 interrupted (Ctrl-C, SIGTERM)"
)
CODES = {
    "status": "0 every cluster healthy or unclustered; 1 a cluster is degraded or broken; "
    "2 bad input",
    "check": "0 every check passes (or is n/a); 3 a check failed or is unknown; 2 bad input",
    "plan": "0 planned; 3 refused; 5 changes pending (--detailed-exitcode); 2 bad input",
    "unlock": "0 removed (or it was not locked); 3 the holder is alive (without --force); "
    "2 bad input",
    "history": "0 listed; 2 bad input",
    "show": "0 shown; 2 bad input (no such run, or an ambiguous id)",
    "config": "0 shown; 2 bad input",
    "probe": "0 every peer was read fully; 1 some peer could not be; 2 bad input",
    "rehearse": "0 the clone run succeeded; otherwise the clone run's exit code (as for a "
    "run: 1 failed, 3 refused, 6 partial); 2 bad input",
    "migrate": "0 copied (or nothing new); 2 bad input or a store that cannot be used",
    "analyze": "0 analysed; 1 some peer's log could not be fetched (incomplete); 2 bad input",
}
EXAMPLES = {
    "status": ["exops status", "exops status -c c1 --json | jq .clusters[0].verdict"],
    "check": ["exops check -c c1", "exops check -c c1 --peer c1-p4   # before add-peer c1-p4"],
    "run": ["exops run ./my-runbook.yaml -c c1 -P value=core.example.com --dry-run"],
    "plan": [
        "exops plan add-peer -c c1 --peer c1-p4 --out add.json",
        "exops plan add-peer -c c1 --peer c1-p4 --format html --out review.html",
    ],
    "apply": ["exops apply add.json          # refused when edited or the cluster changed"],
    "restore": [
        "exops restore -c c1 --peer c1-p2 --dry-run",
        "exops restore -c c1 --peer c1-p2 --backup FILE   # as a run report names it",
    ],
    "unlock": ["exops unlock -c c1", "exops unlock -c c1 --force   # ends a live holder"],
    "history": [
        "exops history -c c1 --since 7d --status failed",
        "exops history --runbook add-peer --json",
    ],
    "show": ["exops show 3f9c2a    # a unique start of the id", "exops show 3f9c2a --format md"],
    "config": ["exops config", "exops config --json"],
    "probe": ["exops probe -c c1", "exops probe -c c1 --record ./first-contact"],
    "rehearse": [
        "exops rehearse add-peer -c c1 --peer c1-p4",
        "exops rehearse restart -c c1 --inject restart_hang@1 --format html --out r.html",
    ],
    "migrate": ["exops state migrate --from sqlite:///var/lib/exops --to postgresql://exops@db/exops"],
    "analyze": [
        "exops logs analyze -c c1 --since 2024-05-01T22:00 --problems",
        "exops logs analyze ./c1-p1.log ./c1-p2.log --summary",
    ],
}


def epilog(command: str, examples: list[str] | None = None) -> str:
    """The examples and exit codes of ``command`` (a runbook: RUN_CODES)."""
    examples = examples or EXAMPLES.get(command) or [
        f"exops {command} -c c1 ... --dry-run    # the plan; nothing is changed",
        f"exops {command} -c c1 ...              # asks before restarting",
        f"exops {command} -c c1 -c c2 ... --yes  # several clusters at once",
    ]
    lines = ["\b", "Examples:", *(f"  {e}" for e in examples), "", "\b", "Exit codes:"]
    lines += [f"  {code.strip()}" for code in CODES.get(command, RUN_CODES).split(";")]
    return "\n".join(lines)


def runbook_examples(name: str, required: list[str]) -> list[str]:
    """A runbook command's examples, with its required flags."""
    flags = " ".join(f"{f} {f.lstrip('-').upper()}" for f in required)
    base = f"exops {name} -c c1" + (f" {flags}" if flags else "")
    return [
        f"{base} --dry-run      # the plan; nothing is changed",
        f"{base}                # asks before restarting",
        f"{base} -c c2 --yes    # c1 and c2 at once, unattended",
    ]


def short_help(text: str | None) -> str:
    """The first paragraph of a help text, whole (``exops --help`` never cuts it)."""
    first = (text or "").strip().split("\n\n")[0]
    return " ".join(first.split())
