#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: check
short_description: Run the clustering prerequisite checks on an Expressway / VCS cluster
description:
  - Reads every peer and runs the prerequisites C(exops check) runs (reachability,
    versions, option keys, DNS, NTP, TLS names, ...), each with evidence per peer.
  - Read only (never changed). Fails, with exit code 3 as C(exops check), when a
    check fails or cannot be decided (unknown never passes). A cluster none of whose
    peers answers is reported unreachable.
version_added: 0.1.0
author: exops maintainers
extends_documentation_fragment: exops.expressway.common
options:
  new_peer:
    description:
      - Check the prerequisites for adding this peer (C(exops check --peer)).
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Prerequisites for adding exp-c-4
  exops.expressway.check:
    cluster: "{{ inventory_hostname }}"
    new_peer: exp-c-4
"""

RETURN = r"""
checks:
  description: Each check as C(exops check --json) prints it (name, outcome, summary, evidence).
  returned: success or a failed check
  type: list
  elements: dict
passed:
  description: True when no check failed or is unknown.
  returned: success or a failed check
  type: bool
exit_code:
  description: The exit code of C(exops check) (0, or 3 when a check failed; 2 for bad input).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.exops.expressway.plugins.module_utils.exops import (
    COMMON_ARGS,
    check_exops,
    error_result,
    exops_env,
)


def main():
    argument_spec = dict(COMMON_ARGS)
    argument_spec.update(new_peer=dict(type="str"))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    check_exops(module)
    import exops

    cluster = module.params["cluster"]
    try:
        env = exops_env(module)
        results = exops.check(env, cluster, new_peer=module.params["new_peer"])[cluster]
    except exops.ExopsError as exc:
        error_result(module, exc)
    bad = [c for c in results if c.outcome in (exops.CheckOutcome.FAIL, exops.CheckOutcome.UNKNOWN)]
    result = dict(
        changed=False,
        checks=[c.model_dump(mode="json") for c in results],
        passed=not bad,
        exit_code=int(exops.ExitCode.REFUSED) if bad else 0,
    )
    reach = next((c for c in results if c.name == "reachable"), None)
    if reach is not None and reach.evidence and "answers" not in reach.evidence.values():
        module.exit_json(unreachable=True, msg=reach.summary, **result)
    if bad:
        module.fail_json(
            msg="; ".join("%s: %s" % (c.name, c.summary) for c in bad), **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
