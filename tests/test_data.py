"""Data loading: the shared dataset, the full upstream layout, CSV/JSONL, bad rows, splits, data-dir lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hatespeech.data import (
    Dataset,
    Example,
    check_trainable,
    download_dataset,
    fingerprint,
    load_dataset,
    load_split,
    load_table,
    normalise_label,
    resolve_data_dir,
)
from hatespeech.errors import DataError
from hatespeech.training.data_mix import train_validation_split

from layout import write_upstream_layout


def test_shared_sampled_splits_load_completely_and_balanced(shared_data: Path) -> None:
    train = load_split(shared_data, "sampled_train")
    test = load_split(shared_data, "sampled_test")
    assert (len(train), len(test)) == (1914, 478)
    assert sum(train.labels) == 957 and sum(test.labels) == 239
    assert train.report.skipped == 0
    assert not {e.id for e in train.examples} & {e.id for e in test.examples}


def test_full_upstream_layout_skips_and_counts_every_problem(tmp_path: Path) -> None:
    root = write_upstream_layout(
        tmp_path,
        {
            "all_files": [
                ("1_1", "a hateful sentence", "hate"),
                ("1_2", "a normal sentence", "noHate"),
                ("1_3", "needs context", "relation"),
                ("1_4", "unsure", "idk/skip"),
                ("1_5", "   ", "noHate"),
            ]
        },
    )
    (root / "all_files" / "9_9.txt").write_text("not in the csv")
    (root / "all_files" / "1_6.txt").write_bytes(b"\xff\xfe bad utf-8")
    with (root / "annotations_metadata.csv").open("a") as handle:
        handle.write("1_6,1,1,0,hate\n1_7,1,1,0,hate\n")
    dataset = load_split(root, "all_files")
    assert [e.id for e in dataset.examples] == ["1_1", "1_2"]
    report = dataset.report
    assert report.skipped_labels == {"relation": 1, "idk/skip": 1}
    assert (report.empty, report.unreadable, report.not_in_annotations) == (1, 1, 1)
    assert "skipped labels" in report.summary()


def test_all_files_with_an_id_list_reads_only_those_ids(tmp_path: Path) -> None:
    root = write_upstream_layout(
        tmp_path, {"all_files": [("1_1", "one", "hate"), ("1_2", "two", "noHate"), ("1_3", "three", "hate")]}
    )
    dataset = load_split(root, "all_files", ids=["1_3", "1_1", "4_4"])
    assert [e.id for e in dataset.examples] == ["1_1", "1_3"]
    assert dataset.report.not_in_annotations == 1


def test_csv_with_text_and_label_columns_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text('text,label,extra\n"Hello, world",noHate,x\nthey are vermin,hate,y\n,hate,z\nfoo,spam,w\n')
    dataset = load_table(path)
    assert [(e.text, e.label) for e in dataset.examples] == [("Hello, world", 0), ("they are vermin", 1)]
    assert dataset.report.empty == 1 and dataset.report.skipped_labels == {"spam": 1}


def test_jsonl_counts_malformed_lines_and_accepts_numeric_labels(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    lines = [{"text": "a", "label": 1}, {"text": "b", "label": "noHate"}, "not json", [1, 2], {"label": 1}]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n")
    dataset = load_dataset(path)
    assert dataset.labels == [1, 0]
    assert dataset.report.malformed_rows == 3


def test_csv_without_the_needed_columns_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("sentence,class\nx,hate\n")
    with pytest.raises(DataError, match="'text' and 'label'"):
        load_table(path)


def test_unsupported_file_type_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match="unsupported"):
        load_table(path)


def test_missing_split_folder_names_the_splits(shared_data: Path) -> None:
    with pytest.raises(DataError, match="sampled_train"):
        load_split(shared_data, "nope")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("hate", 1), ("noHate", 0), ("NOHATE", 0), (" hate ", 1), (1, 1), (0, 0), (True, 1), ("relation", None)],
)
def test_label_normalisation(raw: object, expected: int | None) -> None:
    assert normalise_label(raw) == expected


def test_one_class_or_too_few_rows_cannot_train(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("text,label\n" + "".join(f"t{i},hate\n" for i in range(10)))
    with pytest.raises(DataError, match="both classes"):
        check_trainable(load_table(path))
    path.write_text("text,label\n" + "".join(f"t{i},hate\n" for i in range(10)) + "x,noHate\n")
    with pytest.raises(DataError, match="too few"):
        check_trainable(load_table(path))


def test_validation_split_is_stratified_and_seeded(shared_data: Path) -> None:
    examples = load_split(shared_data, "sampled_train").examples
    train_a, val_a = train_validation_split(examples, 0.15, seed=1)
    _, val_b = train_validation_split(examples, 0.15, seed=1)
    _, val_c = train_validation_split(examples, 0.15, seed=2)
    assert val_a == val_b and val_a != val_c
    assert len(val_a) == 288 and sum(e.label for e in val_a) == 144
    assert not {e.id for e in train_a} & {e.id for e in val_a}


def test_fingerprint_changes_with_text_or_label(shared_data: Path) -> None:
    dataset: Dataset = load_split(shared_data, "sampled_test")
    base = fingerprint(dataset.examples)
    assert fingerprint(dataset.examples) == base
    last = dataset.examples[-1]
    flipped = [*dataset.examples[:-1], Example(last.id, last.text, 1 - last.label)]
    edited = [*dataset.examples[:-1], Example(last.id, last.text + "!", last.label)]
    assert fingerprint(flipped) != base
    assert fingerprint(edited) != base


def test_data_dir_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HATESPEECH_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "typo")
    monkeypatch.setenv("HATESPEECH_DATA_DIR", str(shared_data))
    assert resolve_data_dir() == shared_data
    monkeypatch.delenv("HATESPEECH_DATA_DIR")
    local = write_upstream_layout(tmp_path / "data" / "hate-speech-dataset", {"sampled_train": []})
    assert resolve_data_dir().resolve() == local.resolve()


def test_download_without_network_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"downloading .* failed"):
        download_dataset(tmp_path / "d", url="http://127.0.0.1:9/none.zip", timeout=2)


def test_download_checks_sha256_and_layout(tmp_path: Path, shared_data: Path) -> None:
    import io
    import threading
    import zipfile
    from http.server import BaseHTTPRequestHandler, HTTPServer

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(shared_data / "annotations_metadata.csv", "repo-abc/annotations_metadata.csv")
        for split in ("sampled_train", "sampled_test"):
            archive.writestr(f"repo-abc/{split}/1_1.txt", "x")
    payload = buffer.getvalue()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/a.zip"
    try:
        with pytest.raises(DataError, match="sha256"):
            download_dataset(tmp_path / "d", url=url, sha256="0" * 64)
        import hashlib

        dest = download_dataset(tmp_path / "d", url=url, sha256=hashlib.sha256(payload).hexdigest())
        assert (dest / "sampled_train" / "1_1.txt").read_text() == "x"
    finally:
        server.shutdown()
