import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every test session prepares its datasets in its own cache, never in the user's home."""
    cache = tmp_path_factory.mktemp("cache")
    os.environ["CHROMASWEEP_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def sample_photos(tmp_path_factory):
    from colorize_core.sample_data import build_sample_dataset

    return build_sample_dataset(tmp_path_factory.mktemp("sample") / "imagenet-object-localization-challenge")


@pytest.fixture(scope="session")
def prepared_sample(sample_photos, tmp_path_factory):
    from colorize_core.shards import prepare

    out = tmp_path_factory.mktemp("prepared")
    prepare(sample_photos, str(out), progress=False)
    return str(out)


@pytest.fixture
def tiny_config(prepared_sample, tmp_path):
    """The demo model on the prepared sample data, writing under this test's folder."""
    from colorize_core.config import demo_config

    return demo_config().with_overrides(
        {"data.source": prepared_sample, "out_dir": str(tmp_path / "runs"), "epochs": 1, "steps_per_epoch": 4}
    )
