"""Checkpoint registry: names, aliases, URLs, configs and config inference from file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from idseg.errors import ConfigError
from idseg.models.configs import _SIZE_ALIASES, normalize_config_name
from idseg.models.registry import (
    CheckpointSpec,
    find_checkpoint_by_filename,
    get_checkpoint,
    infer_config_name,
    list_checkpoints,
)

OFFICIAL = {
    "sam2.1_hiera_tiny": "sam2.1_hiera_t",
    "sam2.1_hiera_small": "sam2.1_hiera_s",
    "sam2.1_hiera_base_plus": "sam2.1_hiera_b+",
    "sam2.1_hiera_large": "sam2.1_hiera_l",
    "sam2_hiera_tiny": "sam2_hiera_t",
    "sam2_hiera_small": "sam2_hiera_s",
    "sam2_hiera_base_plus": "sam2_hiera_b+",
    "sam2_hiera_large": "sam2_hiera_l",
}


def test_list_has_the_eight_official_checkpoints():
    specs = list_checkpoints()
    assert {s.name: s.config for s in specs} == OFFICIAL
    assert all(isinstance(s, CheckpointSpec) for s in specs)
    assert all(s.sha256 is None for s in specs)  # no official hashes are known: never invent one
    assert all(s.licence == "Apache-2.0" for s in specs)


def test_urls_configs_and_families():
    tiny = get_checkpoint("sam2.1_hiera_tiny")
    assert (
        tiny.url == "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_tiny.pt"
    )
    assert tiny.family == "sam2.1"
    assert tiny.filename == "sam2.1_hiera_tiny.pt"
    assert tiny.config_path == "configs/sam2.1/sam2.1_hiera_t.yaml"
    large = get_checkpoint("sam2_hiera_large")
    assert (
        large.url == "https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_large.pt"
    )
    assert large.family == "sam2"
    assert large.config_path == "configs/sam2/sam2_hiera_l.yaml"
    assert get_checkpoint("tiny").size_bytes < get_checkpoint("large").size_bytes


def test_spec_is_frozen():
    with pytest.raises(AttributeError):
        get_checkpoint("tiny").url = "https://evil.example/x.pt"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("sam2.1_hiera_t", "sam2.1_hiera_tiny"),
        ("sam2.1-hiera-tiny", "sam2.1_hiera_tiny"),
        ("facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny"),
        ("TINY", "sam2.1_hiera_tiny"),
        ("  Sam2.1_Hiera_Tiny ", "sam2.1_hiera_tiny"),
        ("facebook/sam2.1-hiera-base-plus", "sam2.1_hiera_base_plus"),
        ("sam2.1_hiera_b+", "sam2.1_hiera_base_plus"),
        ("small", "sam2.1_hiera_small"),
        ("large", "sam2.1_hiera_large"),
        ("facebook/sam2-hiera-large", "sam2_hiera_large"),
        ("sam2_hiera_s", "sam2_hiera_small"),
        ("sam2-1-hiera-small", "sam2.1_hiera_small"),
        ("sam2.1_hiera_base+", "sam2.1_hiera_base_plus"),
        ("sam2_hiera_baseplus", "sam2_hiera_base_plus"),
        # spellings that come from idseg.models.configs' size table (one table for both modules)
        ("sam2.1_hiera_b_plus", "sam2.1_hiera_base_plus"),
        ("sam2-hiera-b-plus", "sam2_hiera_base_plus"),
    ],
)
def test_aliases(alias, name):
    assert get_checkpoint(alias).name == name


def test_unknown_name_lists_known_and_suggests():
    with pytest.raises(ConfigError) as info:
        get_checkpoint("sam2.1_hiera_tinny")
    message = str(info.value)
    assert "Did you mean 'sam2.1_hiera_tiny'" in message
    assert all(name in message for name in OFFICIAL)


@pytest.mark.parametrize(
    "text", ["/data/sam2.1_hiera_tiny.pt", "sam2.1_hiera_tiny.pt", "models/tiny", "google/tiny"]
)
def test_paths_are_not_names(text):
    # a missing local file must not silently become a download of the official checkpoint
    with pytest.raises(ConfigError):
        get_checkpoint(text)


def test_unknown_name_without_close_match():
    with pytest.raises(ConfigError) as info:
        get_checkpoint("resnet50")
    assert "Did you mean" not in str(info.value)


@pytest.mark.parametrize(("name", "config"), list(OFFICIAL.items()))
def test_infer_config_from_official_file_names(name, config):
    assert infer_config_name(f"{name}.pt") == config
    assert infer_config_name(get_checkpoint(name).url) == config
    assert infer_config_name(Path("/models") / f"{name}.pt") == config


@pytest.mark.parametrize(
    ("text", "config"),
    [
        ("my_sam2.1_hiera_b+_finetuned.pt", "sam2.1_hiera_b+"),
        ("checkpoints/sam2.1_hiera_s.pt", "sam2.1_hiera_s"),
        ("SAM2.1-Hiera-Large-ft.pth", "sam2.1_hiera_l"),
        ("sam2_1_hiera_tiny.pt", "sam2.1_hiera_t"),
        ("sam2.1_hiera_b_plus_ft.pt", "sam2.1_hiera_b+"),
        ("sam2-hiera-base+.pt", "sam2_hiera_b+"),
        ("https://host/x/sam2_hiera_small.pt?download=1", "sam2_hiera_s"),
        (r"C:\models\sam2.1_hiera_base_plus.pt", "sam2.1_hiera_b+"),
        ("model.pt", None),
        ("sam2.1_hiera_smallish.pt", None),
        ("sam2.1_tiny.pt", None),
    ],
)
def test_infer_config_variants(text, config):
    assert infer_config_name(text) == config


def test_registry_agrees_with_config_names():
    # the registry and the config module share one size table: every spelling the config module
    # accepts for a checkpoint name gives the checkpoint's own config
    for spec in list_checkpoints():
        assert normalize_config_name(spec.name) == spec.config
        assert normalize_config_name(spec.name.replace("_", "-")) == spec.config
    for spelling, suffix in _SIZE_ALIASES.items():
        assert get_checkpoint(f"sam2.1_hiera_{spelling}").config == f"sam2.1_hiera_{suffix}"


def test_find_by_filename():
    assert find_checkpoint_by_filename("sam2.1_hiera_large.pt").name == "sam2.1_hiera_large"
    assert find_checkpoint_by_filename("other.pt") is None
