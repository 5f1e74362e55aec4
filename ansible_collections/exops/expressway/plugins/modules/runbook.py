#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: runbook
short_description: Run an exops runbook on an Expressway / VCS cluster
description:
  - Plans the runbook from fresh reads of every peer, then applies it under the
    cluster lock, step by step, verifying each change (C(exops RUNBOOK -c CLUSTER)).
  - In check mode it is the exops dry run and sends no write; with C(--diff) the
    plan is the diff.
  - C(changed) is true only when a write or a restart happened (in check mode,
    when the plan has changes). A failure carries exops's one-line error and its
    exit code. A cluster none of whose peers answers is reported unreachable.
version_added: 0.1.0
author: exops maintainers
extends_documentation_fragment: exops.expressway.common
options:
  runbook:
    description:
      - A shipped runbook name (C(create-cluster), C(add-peer), C(restart), ...) or a
        runbook file.
    type: str
    required: true
  params:
    description:
      - The runbook's parameters, by name (C(exops RUNBOOK --help) lists them).
    type: dict
    default: {}
  allow_restart:
    description:
      - A plan that restarts peers runs only when this is true (C(exops --yes));
        otherwise the task fails before any change, naming the peers.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for the cluster lock held by another run (an operator, another
        job); default from E(EXOPS_LOCK_TIMEOUT), else fail at once (exit code 4).
    type: float
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Form the cluster on its first peer
  exops.expressway.runbook:
    cluster: "{{ inventory_hostname }}"
    runbook: create-cluster
    allow_restart: true

- name: Add the other peers, one at a time
  exops.expressway.runbook:
    cluster: "{{ inventory_hostname }}"
    runbook: add-peer
    params:
      peer: "{{ item }}"
    allow_restart: true
  loop: [exp-c-2, exp-c-3]
"""

RETURN = r"""
status:
  description: The run's status (C(ok), C(nothing_to_change), C(planned), C(partial), C(failed), C(refused), C(interrupted)).
  returned: always
  type: str
  sample: ok
exit_code:
  description:
    - The exit code the exops command line would have exited with (also on an
      error before the run, such as a bad parameter (2) or a held lock (4)).
  returned: always
  type: int
  sample: 0
run_id:
  description: The journal's id of the run (C(exops show RUN_ID)); null for a dry run.
  returned: always
  type: str
message:
  description: One line saying why the run refused, failed or is partial.
  returned: always
  type: str
run:
  description: The run as C(exops --json) prints it (schema C(exops.run/1)), the plan included.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.exops.expressway.plugins.module_utils.exops import (
    COMMON_ARGS,
    check_exops,
    error_result,
    exops_env,
    finish_run,
    refuse_restarts,
)


def main():
    argument_spec = dict(COMMON_ARGS)
    argument_spec.update(
        runbook=dict(type="str", required=True),
        params=dict(type="dict", default={}),
        allow_restart=dict(type="bool", default=False),
        lock_timeout=dict(type="float"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    check_exops(module)
    import exops

    p = module.params
    try:
        env = exops_env(module, lock_timeout=p["lock_timeout"])
        runner = exops.Runner(env, confirm=None if p["allow_restart"] else refuse_restarts())
        if module.check_mode:
            run = runner.plan(p["runbook"], p["cluster"], dict(p["params"]))
        else:
            run = runner.run(
                p["runbook"], p["cluster"], dict(p["params"]), yes=p["allow_restart"]
            )
    except exops.ExopsError as exc:
        error_result(module, exc)
    finish_run(module, run, module.check_mode)


if __name__ == "__main__":
    main()
