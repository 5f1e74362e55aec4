# -*- coding: utf-8 -*-
"""What the exops.expressway modules share: the connection and state options,
building the exops environment, and turning exops results into Ansible's.

The modules run exops in-process through its Python API (``import exops``):
the interpreter Ansible runs them with (``ansible_python_interpreter``) must
have the ``exops`` package installed. Nothing here shells out to the CLI.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import traceback

try:
    import exops

    HAS_EXOPS = True
    EXOPS_IMPORT_ERROR = None
except ImportError:  # reported by check_exops() as Ansible's missing-library message
    HAS_EXOPS = False
    EXOPS_IMPORT_ERROR = traceback.format_exc()

from ansible.module_utils.basic import missing_required_lib

# The options every module takes. Each one not given falls back to exops's own
# settings resolution: its EXOPS_* environment variable, then the settings file
# (EXOPS_CONFIG), then exops's default, exactly as for the exops command line.
COMMON_ARGS = dict(
    cluster=dict(type="str", required=True),
    inventory=dict(type="path"),
    config_file=dict(type="path"),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    ca_bundle=dict(type="path"),
    known_hosts=dict(type="path"),
    transport=dict(type="str", choices=["rest", "ssh", "auto"]),
    state_url=dict(type="str"),
    state_password=dict(type="str", no_log=True),
    state_dir=dict(type="path"),
    lock_dir=dict(type="path"),
)

# Module options that are exops settings (Env.build flag names).
SETTINGS = ("inventory", "username", "ca_bundle", "known_hosts", "transport", "state_url",
            "state_dir", "lock_dir")

SUCCESS = ("ok", "nothing_to_change", "planned")


def check_exops(module):
    """Fail the task when the interpreter cannot import exops."""
    if not HAS_EXOPS:
        module.fail_json(
            msg=missing_required_lib(
                "exops", reason="set ansible_python_interpreter to the Python that has it"
            ),
            exception=EXOPS_IMPORT_ERROR,
        )


def exops_env(module, **extra):
    """The exops environment of the task: the module's options as settings over
    EXOPS_* and the settings file. Secrets go where exops reads them (this
    module's own process environment), never into a setting or a message."""
    p = module.params
    if p.get("password"):
        os.environ["EXOPS_PASSWORD"] = p["password"]
    if p.get("state_password"):
        os.environ["EXOPS_STATE_PASSWORD"] = p["state_password"]
    if p.get("config_file"):
        os.environ["EXOPS_CONFIG"] = p["config_file"]
    flags = dict((k, p[k]) for k in SETTINGS if p.get(k) is not None)
    flags.update((k, v) for k, v in extra.items() if v is not None)
    return exops.load_env(**flags)


def error_result(module, exc, **fields):
    """exops's one line and its exit code as a failed task (nothing was changed)."""
    module.fail_json(msg=str(exc), exit_code=int(exc.exit_code), changed=False, **fields)


def _plain(doc):
    """``doc`` as JSON types only (dates as strings), as ``exops --json`` prints it."""
    return json.loads(json.dumps(doc, default=str))


def no_peer_answered(plan):
    """A plan made while no peer of the cluster answered (its basis says so)."""
    basis = plan.basis if plan is not None else {}
    return bool(basis) and not any(peer.get("reachable") for peer in basis.values())


def finish_run(module, run, check_mode):
    """Exit with a run's result: changed only when a write or restart happened
    (in check mode: when the plan has changes); failed with exops's one line and
    exit code; unreachable when no peer of the cluster answered."""
    plan = run.plan
    result = dict(
        status=run.status.value,
        exit_code=int(run.exit_code),
        run_id=run.run_id,
        message=run.message or None,
        run=_plain(run.to_doc()),
    )
    if check_mode:
        result["changed"] = bool(plan is not None and plan.has_changes)
    else:
        result["changed"] = run.changed
    if module._diff and plan is not None and plan.has_changes:
        result["diff"] = dict(prepared=exops.render_plan(plan, "text"))
    if no_peer_answered(plan):
        module.exit_json(unreachable=True, msg=run.message or "no peer answered", **result)
    if run.status.value not in SUCCESS:
        module.fail_json(msg=run.message or "exops run " + run.status.value, **result)
    module.exit_json(**result)


def refuse_restarts():
    """The runner's confirmation when ``allow_restart`` is false: a plan that
    restarts peers stops before any change, naming them and the option."""

    def confirm(plan):
        names = ", ".join(a.host or "?" for a in plan.restarts)
        raise exops.UsageError(
            "this plan restarts " + names + "; set allow_restart: true to run it"
        )

    return confirm
