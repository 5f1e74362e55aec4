#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apply_plan
short_description: Apply a saved exops plan to an Expressway / VCS cluster
description:
  - Applies a plan saved with C(exops RUNBOOK --dry-run --out FILE) exactly as it was
    reviewed (C(exops apply FILE)), after planning again from fresh reads; refused
    (exit code 3) when the cluster changed since, or when the file was edited.
  - In check mode it only plans again and compares, sending no write; with C(--diff)
    the saved plan is the diff.
  - C(changed) is true only when a write or a restart happened (in check mode, when
    the saved plan has changes). A cluster none of whose peers answers is reported
    unreachable.
version_added: 0.1.0
author: exops maintainers
extends_documentation_fragment: exops.expressway.common
options:
  plan_file:
    description:
      - The saved plan (JSON). Its cluster must be O(cluster).
    type: path
    required: true
  allow_restart:
    description:
      - A plan that restarts peers runs only when this is true (C(exops apply --yes)).
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for the cluster lock held by another run; default from
        E(EXOPS_LOCK_TIMEOUT), else fail at once (exit code 4).
    type: float
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Apply the reviewed change
  exops.expressway.apply_plan:
    cluster: "{{ inventory_hostname }}"
    plan_file: "/srv/changes/CHG0042-{{ inventory_hostname }}.json"
    allow_restart: true
"""

RETURN = r"""
status:
  description: The run's status (C(ok), C(nothing_to_change), C(planned), C(failed), ...).
  returned: always
  type: str
exit_code:
  description: The exit code C(exops apply) would have exited with.
  returned: always
  type: int
run_id:
  description: The journal's id of the run; null in check mode.
  returned: always
  type: str
message:
  description: One line saying why the run refused, failed or is partial.
  returned: always
  type: str
run:
  description: The run as C(exops apply --json) prints it.
  returned: always
  type: dict
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.exops.expressway.plugins.module_utils.exops import (
    COMMON_ARGS,
    check_exops,
    error_result,
    exops_env,
    finish_run,
    no_peer_answered,
    refuse_restarts,
)


def _check_only(env, path, saved):
    """Plan again and compare (what apply does first), without the lock or a write."""
    import exops
    from exops.plan.model import compare_plans

    fresh = exops.Runner(env).plan(saved.runbook, saved.cluster, dict(saved.params))
    if no_peer_answered(fresh.plan):
        return fresh
    changed = compare_plans(saved, fresh.plan)
    if changed:
        raise exops.StalePlanError(
            "%s: the cluster changed since this plan was made: %s; make a new plan"
            % (path, "; ".join(changed))
        )
    if saved.refused:
        raise exops.PreconditionError("%s: this plan was refused: %s" % (path, saved.refused))
    fresh.plan = saved  # what would be applied: the reviewed plan itself
    return fresh


def main():
    argument_spec = dict(COMMON_ARGS)
    argument_spec.update(
        plan_file=dict(type="path", required=True),
        allow_restart=dict(type="bool", default=False),
        lock_timeout=dict(type="float"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    check_exops(module)
    import exops

    p = module.params
    path = Path(p["plan_file"])
    try:
        env = exops_env(module, lock_timeout=p["lock_timeout"])
        saved = exops.load_plan_file(path)
        if saved.cluster != p["cluster"]:
            raise exops.UsageError(
                "%s: a plan for cluster %s, not %s" % (p["plan_file"], saved.cluster, p["cluster"])
            )
        if module.check_mode:
            run = _check_only(env, path, saved)
        else:
            runner = exops.Runner(env, confirm=None if p["allow_restart"] else refuse_restarts())
            run = runner.apply_saved(path, yes=p["allow_restart"])
    except exops.ExopsError as exc:
        error_result(module, exc)
    finish_run(module, run, module.check_mode)


if __name__ == "__main__":
    main()
