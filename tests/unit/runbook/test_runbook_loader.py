"""The runbook loader refuses a malformed file with file:line, before any appliance is touched."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from paths import REPO

from exops.core.errors import RunbookFileError, UsageError
from exops.runbook.loader import bundled, load_runbook, parse_runbook
from exops.runbook.schema import Runbook

SRC = "mine.yaml"

# (id, text, line, fragment of the message after "mine.yaml:LINE: ")
BAD = [
    (
        "yaml-tab",
        "name: x\nsteps:\n\t- name: a\n",
        3,
        "YAML: found character '\\t'",
    ),
    (
        "yaml-bad-indent",
        "name: x\nsteps:\n  - name: a\n   restart: {}\n",
        4,
        "YAML:",
    ),
    (
        "not-a-mapping",
        "- a\n- b\n",
        1,
        "a runbook is a mapping with name and steps",
    ),
    ("empty-file", "", 1, "a runbook is a mapping with name and steps"),
    ("no-name", "steps:\n  - name: a\n    restart: {}\n", 1, "name: Field required"),
    ("steps-not-a-list", "name: x\nsteps: 3\n", 2, "steps: Input should be a valid tuple"),
    (
        "unknown-top-level-key",
        "name: x\nstep:\n  - name: a\n    restart: {}\nsteps: []\n",
        2,
        "step: Extra inputs are not permitted",
    ),
    (
        "unknown-step-kind",
        "name: x\nsteps:\n  - name: a\n    reboot: {}\n",
        4,
        "steps.0.reboot: Extra inputs are not permitted",
    ),
    (
        "no-step-kind",
        "name: x\nsteps:\n  - name: a\n    on: primary\n",
        3,
        "a step needs exactly one of configure, restart, wait, verify, command, backup, steps "
        "(found none)",
    ),
    (
        "two-kinds-in-one-step",
        "name: x\nsteps:\n  - name: a\n    on: primary\n    configure: {tls_mode: Enforce}\n"
        "  - name: b\n    restart: {}\n    wait: {condition: cluster_healthy}\n",
        6,
        "steps.1: a step needs exactly one of configure, restart, wait, verify, command, backup, "
        "steps (found restart, wait)",
    ),
    (
        "unknown-setting",
        "name: x\nsteps:\n  - name: a\n    configure:\n      colour: red\n",
        3,
        "configure: unknown setting 'colour'",
    ),
    (
        "foreach-without-block",
        "name: x\nsteps:\n  - name: a\n    foreach: '{{ cluster.slots }}'\n    restart: {}\n",
        3,
        "foreach needs a steps: block",
    ),
    (
        "restart-not-a-mapping",
        "name: x\nsteps:\n  - name: a\n    on: primary\n    restart: yes\n",
        5,
        "steps.0.restart: Input should be a valid dictionary",
    ),
    (
        "unknown-command",
        "name: x\nsteps:\n  - name: a\n    command: Reboot\n",
        4,
        "steps.0.command: Input should be 'ForceConfigUpdate' or 'ForceSystemKeyUpdate'",
    ),
    (
        "bad-param-type",
        "name: x\nparams:\n  p: {type: float}\nsteps:\n  - name: a\n    restart: {}\n",
        3,
        "params.p.type: Input should be",
    ),
    (
        "unknown-check",
        "name: x\npreflight: [reachable, nope]\nsteps:\n  - name: a\n    restart: {}\n",
        2,
        "unknown check 'nope' (known: reachable,",
    ),
    (
        "unknown-wait-condition",
        "name: x\nsteps:\n  - name: a\n    wait:\n      condition: nope\n",
        5,
        "unknown condition 'nope' (known: cluster_healthy,",
    ),
    (
        "unknown-verify-condition-nested",
        "name: x\nsteps:\n  - name: blk\n    steps:\n      - name: inner\n"
        "        verify: {condition: bogus}\n",
        6,
        "unknown condition 'bogus'",
    ),
    (
        "unknown-gate",
        "name: x\nsteps:\n  - name: a\n    restart: {gate: nope}\n",
        4,
        "unknown condition 'nope'",
    ),
    (
        "jinja-unclosed-target",
        'name: x\nsteps:\n  - name: a\n    on: "{{ cluster.primary "\n    restart: {}\n',
        4,
        "steps.0.on: expression error: unexpected end of template",
    ),
    (
        "jinja-bare-expression",
        'name: x\nsteps:\n  - name: a\n    when: "cluster.size >"\n    restart: {}\n',
        4,
        "steps.0.when: expression error:",
    ),
    (
        "jinja-in-step-name",
        'name: x\nsteps:\n  - name: "list {{ peer }"\n    restart: {}\n',
        3,
        "steps.0.name: expression error: unexpected '}'",
    ),
    (
        "jinja-in-setting-value",
        "name: x\nsteps:\n  - name: a\n    configure:\n"
        '      peers: "{{ cluster.peers_with(peer) "\n',
        5,
        "steps.0.configure.peers: expression error:",
    ),
    (
        "jinja-in-refusal",
        'name: x\nrefuse:\n  - when: "not not"\n    reason: r\nsteps:\n  - name: a\n'
        "    restart: {}\n",
        3,
        "refuse.0.when: expression error:",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_malformed_runbook_names_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(RunbookFileError) as info:
        parse_runbook(text, SRC)
    message = str(info.value)
    assert message.startswith(f"{SRC}:{line}: "), message
    assert fragment in message, message
    assert "\n" not in message  # one line for the operator
    assert info.value.exit_code == 2


def test_unclosed_flow_sequence_at_end_of_file_points_inside_the_file() -> None:
    """PyYAML marks '<stream end>' on the line after the last; the file has 4 lines."""
    text = "name: x\nsteps:\n  - name: a\n    on: [primary\n"
    with pytest.raises(RunbookFileError) as info:
        parse_runbook(text, SRC)
    line = int(re.match(rf"{re.escape(SRC)}:(\d+): ", str(info.value)).group(1))  # type: ignore[union-attr]
    assert 1 <= line <= len(text.splitlines()), str(info.value)


DUPLICATES = [
    (
        "two-configure-keys",
        "name: x\nsteps:\n  - name: a\n    on: primary\n    configure: {tls_mode: Enforce}\n"
        "    configure: {tls_mode: Permissive}\n",
        6,
    ),
    (
        "two-steps-blocks",
        "name: x\nsteps:\n  - name: a\n    restart: {}\nsteps:\n  - name: b\n    restart: {}\n",
        5,
    ),
]


@pytest.mark.parametrize(
    ("text", "line"), [d[1:] for d in DUPLICATES], ids=[d[0] for d in DUPLICATES]
)
def test_duplicate_keys_are_refused_with_their_line(text: str, line: int) -> None:
    with pytest.raises(RunbookFileError, match=rf"^{re.escape(SRC)}:{line}: .*duplicate"):
        parse_runbook(text, SRC)


def test_on_is_a_key_not_a_boolean() -> None:
    """YAML 1.1 would read ``on:`` as True; runbooks use it as the target key."""
    rb = parse_runbook("name: x\nsteps:\n  - name: a\n    on: primary\n    restart: {}\n", SRC)
    assert rb.steps[0].on == "primary" and rb.steps[0].kind == "restart"
    assert rb.source == SRC


def test_valid_file_loads_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nparams:\n  peer: {type: peer, required: true}\nsteps:\n"
        "  - name: restart {{ peer }}\n    on: '{{ peer }}'\n    restart: {when: always}\n"
    )
    rb = load_runbook(str(path))
    assert rb.name == "mine" and rb.source == str(path)
    assert rb.steps[0].restart is not None and rb.steps[0].restart.when == "always"


def test_malformed_file_by_path_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nsteps:\n  - name: a\n    reboot: {}\n")
    with pytest.raises(RunbookFileError, match=rf"^{re.escape(str(path))}:4: "):
        load_runbook(str(path))


@pytest.mark.parametrize("ref", ["/nonexistent/dir/x.yaml", "missing.yml"])
def test_missing_file_is_a_usage_error(ref: str) -> None:
    with pytest.raises(UsageError, match="cannot read runbook file") as info:
        load_runbook(ref)
    assert not isinstance(info.value, RunbookFileError)
    assert info.value.exit_code == 2


def test_unknown_shipped_name_lists_the_shipped_ones() -> None:
    with pytest.raises(UsageError, match="unknown runbook 'nope'; shipped: add-peer,"):
        load_runbook("nope")


SHIPPED = [
    "add-peer",
    "address-mapping",
    "convert-fqdn",
    "create-cluster",
    "enforce-tls",
    "remove-peer",
    "repair-replication",
    "restart",
    "switch-primary",
]


def test_every_documented_runbook_is_shipped() -> None:
    assert set(SHIPPED) <= set(bundled())


@pytest.mark.parametrize("name", bundled())
def test_every_shipped_runbook_loads(name: str) -> None:
    rb = load_runbook(name)
    assert isinstance(rb, Runbook)
    assert rb.name == name
    assert rb.source == f"runbooks/{name}.yaml"
    assert rb.steps and rb.description


@pytest.mark.parametrize("name", bundled())
def test_shipped_runbook_file_loads_by_path_too(name: str) -> None:
    path = REPO / "runbooks" / f"{name}.yaml"
    assert load_runbook(str(path)) == load_runbook(name).model_copy(update={"source": str(path)})


# -- bounded input (issue 11, item 7): one line, exit 2, nothing parsed further ---------------
def _one_line_usage(exc: pytest.ExceptionInfo[UsageError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and exc.value.exit_code == 2
    return message


def test_oversized_runbook_is_refused(tmp_path: Path) -> None:
    from exops.runbook.loader import MAX_RUNBOOK_BYTES

    path = tmp_path / "big.yaml"
    path.write_text("name: x\n" + "# padding\n" * (MAX_RUNBOOK_BYTES // 10 + 1))
    with pytest.raises(RunbookFileError) as exc:
        load_runbook(str(path))
    assert "larger than 256 KiB" in _one_line_usage(exc)


def test_dev_zero_is_refused_without_reading_it_all() -> None:
    with pytest.raises(UsageError) as exc:
        load_runbook("/dev/zero")
    assert "character device, not a regular file" in _one_line_usage(exc)


def test_a_fifo_runbook_is_refused_at_once(tmp_path: Path) -> None:
    """A named pipe nobody writes to would block a read forever: refused, exit 2."""
    fifo = tmp_path / "book.yaml"
    os.mkfifo(fifo)
    with pytest.raises(UsageError) as exc:
        load_runbook(str(fifo))
    assert exc.value.exit_code == 2
    assert "FIFO (named pipe), not a regular file" in _one_line_usage(exc)


def test_a_sparse_file_is_refused_from_its_size(tmp_path: Path) -> None:
    """1 GiB of holes: refused from its size, never read into memory."""
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.truncate(1 << 30)
    with pytest.raises(RunbookFileError) as exc:
        load_runbook(str(big))
    assert "larger than 256 KiB" in _one_line_usage(exc)


def test_invalid_utf8_is_one_line_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"name: x\nsteps:\n  - name: \xff\xfe\n")
    with pytest.raises(RunbookFileError) as exc:
        load_runbook(str(path))
    message = _one_line_usage(exc)
    assert f"{path}:3: not valid UTF-8" in message


def test_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as exc:
        load_runbook(str(tmp_path) + "/")
    assert "runbook file is a directory, not a regular file" in _one_line_usage(exc)


def test_alias_bomb_is_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(
            f"{chr(97 + i)}: &{chr(97 + i)} " + "[" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]"
        )
    text = "\n".join(lines) + "\nname: x\nsteps: []\n"
    with pytest.raises(RunbookFileError) as exc:
        parse_runbook(text, SRC)
    assert "aliases" in _one_line_usage(exc) and exc.value.message.startswith(f"{SRC}:")


def test_a_few_aliases_are_fine() -> None:
    text = (
        "name: x\nx-common: &wait {condition: cluster_healthy, always: true}\n"
        "steps:\n  - name: w\n    wait: *wait\n"
    )
    with pytest.raises(RunbookFileError, match="x-common"):  # unknown key, not the alias
        parse_runbook(text, SRC)


def test_deep_nesting_is_refused() -> None:
    text = "name: x\nsteps: " + "[" * 200 + "]" * 200 + "\n"
    with pytest.raises(RunbookFileError) as exc:
        parse_runbook(text, SRC)
    assert "nested deeper than" in _one_line_usage(exc)


@pytest.mark.parametrize(
    "expression",
    [
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% for a in range(9) %}{% for b in range(9) %}{% for c in range(9) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
    ],
)
def test_unbounded_template_constructs_are_refused_at_load(expression: str) -> None:
    text = f"name: x\nsteps:\n  - name: a\n    on: primary\n    when: '{expression}'\n    restart: {{}}\n"
    with pytest.raises(RunbookFileError) as exc:
        parse_runbook(text, SRC)
    assert f"{SRC}:5:" in _one_line_usage(exc)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ('{{ "a" * 100000000 }}', "'*' would make"),
        ("{{ [1] * 100000000 }}", "'*' would make"),
        ("{{ 100000000 * [1] }}", "'*' would make"),
        ("{{ range(100000000) | list }}", "number"),
        ("{{ range(5000) | list }}", "range of 5000"),
        ("{{ 10 ** 100000 }}", "exponent"),
        ('{{ "%0999999999d" % 1 }}', "string formatting"),
        ('{{ "a".ljust(1000000000) }}', "larger than"),
        ('{{ "a" | center(1000000000) }}', "filter center"),
        ('{% for i in range(1000) %}{{ "x" * 4000 }}{% endfor %}', "output larger"),
        ('{{ ("x" * 4000) + ("y" * 4000) }}', "'+' would make"),
    ],
)
def test_expressions_are_bounded(expression: str, fragment: str) -> None:
    from exops.runbook.expr import BoundsError, render

    with pytest.raises(BoundsError) as exc:
        render(expression, {})
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("{{ lipsum(n=100000) }}", "lipsum(...) would produce"),
        ("{{ lipsum(100000) }}", "lipsum(...) would produce"),
        ('{{ ("\\n" * 4000) | indent(100000) }}', "indent(...) would produce"),
        ('{{ ("a" * 4000) | replace("a", "b" * 4000) }}', "replace(...) would produce"),
        ('{{ ("a" * 4000).replace("a", "b" * 4000) }}', "replace(...) would produce"),
        ('{{ ("\\t" * 4000).expandtabs(100000) }}', "expandtabs(...) would produce"),
        ('{{ "x".center(100000) }}', "center(...) would produce"),
        ("{{ [1, 2] | slice(100000) | list }}", "slice(...) would produce"),
    ],
)
def test_growing_calls_are_bounded_before_they_run(
    expression: str, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lipsum(n=100000)`` built 45 M items (11 s, 242 MB) before the output limit
    refused it: such calls are refused from their arguments, before they run."""
    from exops.runbook import expr

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("ran before it was bounded")

    monkeypatch.setattr(expr, "generate_lorem_ipsum", never)
    with pytest.raises(expr.BoundsError) as exc:
        expr.render(expression, {})
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


def test_bounded_expressions_still_compute_what_runbooks_need() -> None:
    from exops.runbook.expr import render

    assert render("{{ [''] * 6 }}", {}) == [""] * 6
    assert render("{{ range(1, 7) | list }}", {}) == [1, 2, 3, 4, 5, 6]
    assert render("{{ ['a', 'b'] | join(', ') }}", {}) == "a, b"
    assert render("{{ 'p' ~ 3 }}", {}) == "p3"
    assert render("{{ 'a.b' | replace('.', '-') }}", {}) == "a-b"
    assert render("{{ 'x' | center(5) }}", {}) == "  x  "
