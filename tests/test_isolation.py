from django.conf import settings

from tests.conftest import REPO


def test_it_keeps_the_runtime_data_folder_out_of_every_test():
    assert settings.DATA_DIR.resolve() != (REPO / "data").resolve()
    assert REPO / "data" not in settings.DATA_DIR.resolve().parents
