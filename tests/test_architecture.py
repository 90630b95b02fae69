"""Keep the layout honest: imports point inward, every provider and error class has
its tests and docs, and no bare TODO stands in for work."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from gateway import errors
from gateway.providers import PROVIDER_TYPES

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "service" / "gateway"

# module (relative to the package) -> gateway modules it may import; None = any.
ALLOWED_IMPORTS = {
    "providers/types.py": set(),
    "providers/sse.py": {"providers.types"},
    "providers/retry_after.py": set(),
    "providers/wire.py": {"errors", "providers.types"},
    "providers/openai.py": {
        "errors",
        "providers.types",
        "providers.retry_after",
        "providers.wire",
    },
    "providers/anthropic.py": {
        "errors",
        "providers.types",
        "providers.retry_after",
        "providers.wire",
    },
    "routing/policy.py": {"errors"},
    "accounting/pricing.py": {"providers.types"},
    "accounting/tokens.py": set(),
    "errors.py": set(),
    "attribution.py": set(),
}
FORBIDDEN_THIRD_PARTY = {
    "flask",
    "werkzeug",
    "urllib3",
    "requests",
    "geventhttpclient",
    "sqlite3",
    "sqlite_utils",
}


def gateway_imports(path: Path) -> tuple[set[str], set[str]]:
    """(gateway modules, top-level third-party modules) that ``path`` imports."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(PACKAGE).parent.parts
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
                names = (
                    [module]
                    if node.module
                    else [".".join([*base, a.name]) for a in node.names]
                )
                internal.update(n for n in names if n)
            elif node.module and node.module.startswith("gateway"):
                internal.add(node.module.removeprefix("gateway."))
            elif node.module:
                external.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            external.update(alias.name.split(".")[0] for alias in node.names)

    return internal, external


@pytest.mark.parametrize("module", sorted(ALLOWED_IMPORTS))
def test_pure_modules_import_only_inward(module: str) -> None:
    internal, external = gateway_imports(PACKAGE / module)

    assert internal <= ALLOWED_IMPORTS[module], internal - ALLOWED_IMPORTS[module]
    assert not external & FORBIDDEN_THIRD_PARTY


def test_only_the_transport_calls_providers() -> None:
    # Budget alerts post to webhooks with requests (and urllib3's Retry), off the
    # request path; every provider call goes through transport.py.
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if {"geventhttpclient", "urllib3", "requests"} & gateway_imports(path)[1]
    }

    assert importers <= {"transport.py", "control/alerts.py"}
    assert "transport.py" in importers


@pytest.mark.parametrize("provider_type", sorted(PROVIDER_TYPES))
def test_every_provider_type_has_tests_docs_and_a_fake(provider_type: str) -> None:
    module = PROVIDER_TYPES[provider_type].__name__.rsplit(".", 1)[1]
    docs = (REPO / "docs" / "providers.md").read_text()

    assert (REPO / "tests" / "providers" / f"test_{module}.py").exists()
    assert f"`{provider_type}`" in docs
    if provider_type != "demo":
        assert (REPO / "tests" / "fakes" / f"{module}.py").exists()


@pytest.mark.parametrize("cls", errors.all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_type_is_documented(cls: type[errors.GatewayError]) -> None:
    assert f"`{cls.type}`" in (REPO / "README.md").read_text()


def test_no_bare_todo_marks_in_the_service() -> None:
    marked = [
        f"{path.relative_to(REPO)}:{number}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"#\s*(TODO|FIXME|XXX|HACK)(?!\(#\d+\))", line)
    ]

    assert marked == []


def test_no_module_imports_another_modules_private_names() -> None:
    """A name with a leading underscore is its module's own; what others need gets a
    public name."""
    private = [
        f"{path.relative_to(PACKAGE)}: {alias.name} from {node.module}"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        and (node.level or "gateway" in (node.module or ""))
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]

    assert private == []
