"""One text normalisation: emoji as words, placeholders made the same, the same ids on every path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from hatespeech.corpora import SHARED_HATEXPLAIN, load_hatexplain
from hatespeech.engines.base import read_model_info
from hatespeech.errors import ModelError
from hatespeech.normalization import CONFIG_KEY, attach, normalize


def test_emoji_become_their_names_and_placeholders_are_the_same_across_sources() -> None:
    assert normalize("I want to 🔪 all women") == "I want to  :kitchen knife:  all women"
    assert normalize("<user> and @bob_1 &amp; @alice") == "@user and @user & @user"
    assert normalize("see https://t.co/x?y=1 or www.example.org <url>") == "see http or http http"
    assert normalize("&lt;3 &#8220;quoted&#8221;") == "<3 \u201cquoted\u201d"
    assert normalize("plain text, no change") == "plain text, no change"
    assert normalize("I want to 🔪 all women", "none") == "I want to 🔪 all women"


def test_normalising_twice_changes_nothing_more() -> None:
    for text in ("👍🏽 <user> http://a.b", "@x &amp; 🇺🇸 ok", "no emoji"):
        once = normalize(text)
        assert normalize(once) == once


def _texts() -> list[str]:
    texts = ["I want to 🔪 all 👍🏽 @bob <user> &amp; http://x.io/a women!", "café 😀 straße", "a\u200bb 🏳️‍🌈"]
    if SHARED_HATEXPLAIN.is_file():
        texts += [e.text for e in load_hatexplain(SHARED_HATEXPLAIN, ("val",)).examples[:400]]
    return texts


def test_training_and_serving_paths_give_the_same_token_ids(tiny_base: Path) -> None:
    """Training normalises the texts, then tokenizes; the engines run it inside the tokenizer: same ids."""
    plain = Tokenizer.from_file(str(tiny_base / "tokenizer.json"))
    inside = Tokenizer.from_file(str(tiny_base / "tokenizer.json"))
    attach(inside, "social-v1")
    texts = _texts()
    trained = plain.encode_batch([normalize(t) for t in texts])
    served = inside.encode_batch(texts)
    assert [e.ids for e in trained] == [e.ids for e in served]
    assert sum("[UNK]" in e.tokens for e in served) < sum("[UNK]" in e.tokens for e in plain.encode_batch(texts))


def test_a_model_dir_says_its_normalisation_and_an_old_one_is_served_without(model_copy: Path, tmp_path: Path) -> None:
    assert read_model_info(model_copy).normalization == "social-v1"
    old = tmp_path / "old"
    shutil.copytree(model_copy.resolve(), old)
    config = json.loads((old / "config.json").read_text())
    del config[CONFIG_KEY]
    (old / "config.json").write_text(json.dumps(config))
    assert read_model_info(old).normalization == "none"
    config[CONFIG_KEY] = "shouting"
    (old / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="unknown text normalisation 'shouting'"):
        read_model_info(old)
