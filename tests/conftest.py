"""Shared fixtures: the dataset, a small upstream-layout copy, and a tiny random BERT (seconds).

Before anything runs, the suite is isolated from the user's own configuration (``HATESPEECH_*`` settings, Ray's
auth token), and the dataset is found as the CLI finds it (``HATESPEECH_TEST_DATA``, ``HATESPEECH_DATA_DIR``,
``./data/...``, ``../shared/...``, else the upstream download): without one, the run stops at once, in one line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hatespeech import artifact
from hatespeech.config import DataRecipe, TrainConfig
from hatespeech.data import load_split, resolve_data_dir
from hatespeech.errors import DataError

import cleanup
from layout import write_upstream_layout
from postgres import PostgresServer, wait_for

REPO = Path(__file__).resolve().parents[1]
KEPT_VARIABLES = frozenset(  # HATESPEECH_* variables that configure the tests themselves, not the code under test
    {"HATESPEECH_TEST_DATA", "HATESPEECH_DATA_DIR", "HATESPEECH_CACHE", "HATESPEECH_DOCKER_MODEL",
     "HATESPEECH_REQUIRE_SHIPPED", "HATESPEECH_SHIPPED_MODEL", "HATESPEECH_CHROMIUM"}
)  # fmt: skip
DATASET: Path | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Isolate the run from the user's configuration; find the dataset or stop with one line."""
    global DATASET
    for name in [n for n in os.environ if n.startswith("HATESPEECH_") and n not in KEPT_VARIABLES]:
        del os.environ[name]  # a user's HATESPEECH_API_KEYS would otherwise close the test servers
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        os.environ.pop(name, None)
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a token in ~/.ray/auth_token must not lock out the test cluster
    os.chdir(REPO)  # ./data and ../shared are looked for from the repo, wherever pytest was started
    cleanup.install()  # servers and the Ray cluster end with the run, also on SIGTERM (tests/cleanup.py)
    try:
        DATASET = resolve_data_dir(os.environ.get("HATESPEECH_TEST_DATA")).resolve()
    except DataError as exc:
        pytest.exit(f"no dataset for the tests: {exc}. Put it beside the repo (../shared/data/hate-speech-dataset) "
                    "or set HATESPEECH_DATA_DIR=DIR (the upstream layout, see README)", returncode=4)  # fmt: skip


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The dataset found at session start (upstream layout)."""
    assert DATASET is not None
    return DATASET


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """48 train and 16 test sentences copied from the shared dataset (balanced), in the upstream layout."""
    splits: dict[str, list[tuple[str, str, str]]] = {}
    for split, per_class in (("sampled_train", 24), ("sampled_test", 8)):
        examples = load_split(shared_data, split).examples
        rows: list[tuple[str, str, str]] = []
        for label, name in ((1, "hate"), (0, "noHate")):
            rows += [(e.id, e.text, name) for e in examples if e.label == label][:per_class]
        splits[split] = rows
    return write_upstream_layout(tmp_path_factory.mktemp("small-data"), splits)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer, 32-wide BERT with the real MiniLM tokenizer: trains in seconds."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from hatespeech.modeling import resolve_base_model

    source = resolve_base_model(TrainConfig.model_fields["base_model"].default)
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    directory = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_config(tiny_base: Path) -> TrainConfig:
    return TrainConfig(
        base_model=str(tiny_base),
        head_epochs=1,
        epochs=2,
        batch_size=8,
        learning_rate=1e-3,
        device="cpu",
        folds=0,
        data=DataRecipe(natural=False, contrast=False, counterfactual=False),
    )  # hold-out validation; tests/test_training.py covers cross-fitting (the default) on its own


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_config: TrainConfig, small_data: Path) -> Path:
    """A trained, exported and published tiny model dir (models/current-style symlink)."""
    from hatespeech.export import export_model_dir
    from hatespeech.training import train
    from hatespeech.training.data_mix import load_recipe

    out = tmp_path_factory.mktemp("models") / "current"
    test_data = load_split(small_data, "sampled_test")
    train_data = load_recipe(small_data, tiny_config.data, test_texts=test_data.texts)
    train(
        tiny_config,
        train_data,
        out,
        test_data=test_data,
        after_save=lambda staged: export_model_dir(staged, train_data),
    )
    return out


@pytest.fixture
def model_copy(tiny_model: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model, published at ``tmp/models/current`` like the real one."""
    staged = artifact.staging_dir(tmp_path / "models" / "current")
    shutil.copytree(tiny_model.resolve(), staged, dirs_exist_ok=True)
    artifact.publish(staged, tmp_path / "models" / "current")
    return tmp_path / "models" / "current"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A two-node Ray cluster on loopback (head + worker), stopped by process id at the end. 4 logical CPUs
    per node (on 2 real cores): room for 2 Serve replicas, 2 scoring actors and Ray Data's own tasks."""
    from ray_cluster import RayCluster

    cluster = RayCluster(cpus=4)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a free loopback port for the whole run (Debian's postgresql package)."""
    server = PostgresServer()
    wait_for(server.url)
    yield server
    server.stop()
    server.remove()
