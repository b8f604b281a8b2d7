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
