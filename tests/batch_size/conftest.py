import pytest

pytest.importorskip("torch", reason="hpo.batch_size needs torch (pip install 'hpo[torch]')")
