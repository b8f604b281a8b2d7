import subprocess
import sys


def test_import_hpo_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, hpo; heavy = [m for m in ('sqlalchemy', 'torch', 'fastapi', 'ray', 'numpy')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_root_folders_import_under_the_hpo_namespace() -> None:
    import hpo.api
    import hpo.batch_size
    import hpo.dashboard
    import hpo.schedulers
    import hpo.surrogates

    assert hpo.schedulers.__name__ == "hpo.schedulers"
    for mod in (hpo.api, hpo.batch_size, hpo.dashboard, hpo.surrogates):
        assert mod.__name__.startswith("hpo.")


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """A wheel (not an editable install) ships only the packages pyproject lists."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cfg = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for name, folder in cfg["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(root / folder).parts
            found.add(".".join((name, *rel)))
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"


def test_import_hpo_batch_size_loads_no_service_dependency() -> None:
    code = (
        "import sys, hpo.batch_size; heavy = [m for m in ('sqlalchemy', 'fastapi', 'pydantic',"
        " 'yaml', 'typer') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
