#!/usr/bin/python
# -*- coding: utf-8 -*-

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: status
short_description: Read an Expressway / VCS cluster's status and verdict
description:
  - Reads every peer of the cluster at once and returns what C(exops status --json)
    shows for it - peers, primary, replication, alarms - and the verdict.
  - Read only (never changed). Fails, as C(exops status) exits 1, when the cluster
    is degraded or broken, unless O(fail_unhealthy=false). A cluster none of whose
    peers answers is reported unreachable.
version_added: 0.1.0
author: exops maintainers
extends_documentation_fragment: exops.expressway.common
options:
  fail_unhealthy:
    description:
      - Fail the task when the verdict is C(degraded) or C(broken).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Status of each cluster
  exops.expressway.status:
    cluster: "{{ inventory_hostname }}"
  register: st

- name: Show the verdict
  ansible.builtin.debug:
    msg: "{{ st.verdict }}: {{ st.report.root_cause }}"
"""

RETURN = r"""
verdict:
  description: C(healthy), C(degraded), C(broken), C(unclustered) or C(unknown) (too little could be read to decide).
  returned: success or unhealthy
  type: str
  sample: healthy
healthy:
  description: True unless the verdict is C(degraded) or C(broken).
  returned: success or unhealthy
  type: bool
report:
  description: The cluster's report as C(exops status --json) prints it (one entry of its C(clusters)).
  returned: success or unhealthy
  type: dict
exit_code:
  description: The exit code of C(exops status) for this cluster (0 or 1; 2 for bad input).
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
    argument_spec.update(fail_unhealthy=dict(type="bool", default=True))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    check_exops(module)
    import exops

    try:
        report = exops.status(exops_env(module), module.params["cluster"])[0]
    except exops.ExopsError as exc:
        error_result(module, exc)
    healthy = report.verdict in (exops.Verdict.HEALTHY, exops.Verdict.UNCLUSTERED)
    result = dict(
        changed=False,
        verdict=report.verdict.value,
        healthy=healthy,
        report=report.model_dump(mode="json"),
        exit_code=0 if healthy else int(exops.ExitCode.FAILED),
    )
    if report.peers and not any(p.reachable for p in report.peers):
        module.exit_json(unreachable=True, msg=report.root_cause, **result)
    if not healthy and module.params["fail_unhealthy"]:
        module.fail_json(msg="cluster %s is %s: %s" % (
            report.cluster, report.verdict.value, report.root_cause), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
