# -*- coding: utf-8 -*-
"""The options every exops.expressway module takes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  cluster:
    description:
      - The cluster, as the exops inventory names it (its group name). With one
        Ansible host per cluster, C({{ inventory_hostname }}).
    type: str
    required: true
  inventory:
    description:
      - The exops inventory directory (C(hosts.yaml), C(groups.yaml), C(defaults.yaml)).
      - Default from E(EXOPS_INVENTORY), the settings file, or C(inventory).
    type: path
  config_file:
    description:
      - The exops settings file (YAML); default from E(EXOPS_CONFIG) or
        C(~/.config/exops/config.yaml).
    type: path
  username:
    description:
      - The appliance account, when the inventory names none; default from E(EXOPS_USERNAME).
    type: str
  password:
    description:
      - The appliance password for every peer, as E(EXOPS_PASSWORD) (per-peer and
        per-cluster E(EXOPS_PASSWORD_<NAME>) variables and the OS keyring still apply).
      - Never logged; give it from a vault or an AWX credential.
    type: str
  ca_bundle:
    description:
      - The CA bundle that signs the appliances' HTTPS certificates; default from E(EXOPS_CA_BUNDLE).
    type: path
  known_hosts:
    description:
      - The SSH known_hosts file for the appliances; default from E(EXOPS_KNOWN_HOSTS).
    type: path
  transport:
    description:
      - How exops talks to the appliances; default from E(EXOPS_TRANSPORT) or the inventory.
    type: str
    choices: [rest, ssh, auto]
  state_url:
    description:
      - The state store (journal, locks, backups) shared with every exops run of the team,
        for example C(postgresql://exops@db.example.com/exops); default from E(EXOPS_STATE_URL),
        else the SQLite store in O(state_dir).
    type: str
  state_password:
    description:
      - The PostgreSQL password of O(state_url), as E(EXOPS_STATE_PASSWORD). Never logged.
    type: str
  state_dir:
    description:
      - The local state directory (SQLite journal, backups); default from E(EXOPS_STATE_DIR).
    type: path
  lock_dir:
    description:
      - The directory of the per-cluster lock files when no PostgreSQL store is used;
        default from E(EXOPS_LOCK_DIR), else the host-wide C(/run/lock/exops).
    type: path
requirements:
  - The C(exops) Python package, in the interpreter Ansible runs the module with
    (C(ansible_python_interpreter)).
notes:
  - "Runs on the controller or an execution node, not on the appliances: use
    C(connection: local) with one Ansible host per cluster."
  - Runs in-process through the exops Python API and shares the cluster lock and
    the journal with the exops command line (the same O(state_url) or O(lock_dir)).
"""
