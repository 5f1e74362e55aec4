"""The runbook file format, as pydantic models (validated at load time).

A runbook is YAML::

    name: add-peer
    description: ...
    params:
      peer: {type: peer, required: true, help: The peer to add.}
    preflight: [reachable, size, role]
    preflight_new_peer: "{{ peer }}"
    refuse:
      - when: "{{ not cluster.clustered }}"
        reason: "cluster {{ cluster_name }} is not formed: run create-cluster first"
    steps:
      - name: list the new peer on the primary
        on: primary
        configure: {peers: "{{ cluster.peers_with(peer) }}"}
      - name: restart the new peer
        on: "{{ peer }}"
        restart: {when: pending, gate: peer_healthy}

Exactly one of configure / restart / wait / verify / command / backup /
steps (a block, optionally repeated with ``foreach``) per step. Targets
(``on``): primary, subordinates, members (slot order), all (every inventory
peer), or an expression giving a peer name or a list of names.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from exops.runbook.catalog import ParamSpec

SETTING_KEYS = (
    "peers",
    "primary",
    "cluster_name",
    "ip_version",
    "tls_mode",
    "mapping_enabled",
    "mapping",
)
TARGET_KEYWORDS = ("primary", "subordinates", "members", "all")
STEP_KINDS = ("configure", "restart", "wait", "verify", "command", "backup", "steps")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Refusal(Strict):
    when: str
    reason: str


class RestartSpec(Strict):
    when: Literal["pending", "always"] = "pending"
    gate: str | None = None  # a condition waited for after each restart
    gate_args: dict[str, Any] = Field(default_factory=dict)
    unless_booted_after: str | None = None  # expression: ISO time (``--resume``)
    timeout: float | None = None


class WaitSpec(Strict):
    condition: str
    args: dict[str, Any] = Field(default_factory=dict)
    timeout: float | None = None
    expected_alarms: tuple[str, ...] = ()
    always: bool = False  # also when nothing changed before it (a pure check)


class Step(Strict):
    name: str
    on: str | None = None
    when: str | None = None
    reachable_only: bool = False  # skip (with a warning) unreachable targets
    decommission: bool = False  # emptying this target's list is intended
    advice: str | None = None  # what to do when this step fails
    configure: dict[str, Any] | None = None
    restart: RestartSpec | None = None
    wait: WaitSpec | None = None
    verify: WaitSpec | None = None
    command: Literal["ForceConfigUpdate", "ForceSystemKeyUpdate"] | None = None
    backup: bool | None = None
    steps: tuple[Step, ...] | None = None
    foreach: str | None = None
    as_: str = Field(default="item", alias="as")

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(f"a step needs exactly one of {', '.join(STEP_KINDS)} (found {found})")
        if self.foreach is not None and self.steps is None:
            raise ValueError("foreach needs a steps: block")
        if self.configure is not None:
            unknown = sorted(set(self.configure) - set(SETTING_KEYS))
            if unknown:
                raise ValueError(
                    f"configure: unknown setting {unknown[0]!r} (known: {', '.join(SETTING_KEYS)})"
                )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)


class Runbook(Strict):
    name: str
    description: str = ""
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    preflight: tuple[str, ...] = ()
    preflight_new_peer: str | None = None
    # The peer the run takes out of the cluster (remove-peer): out of the checks' scope.
    preflight_leaving_peer: str | None = None
    refuse: tuple[Refusal, ...] = ()
    steps: tuple[Step, ...]
    source: str = ""  # where it was loaded from (for messages)
