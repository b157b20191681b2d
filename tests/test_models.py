"""Model configs, checkpoint loading (strict keys, weights_only) and device selection."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from _helpers import make_scene, mask_iou, meta_predictor
from idseg.errors import CheckpointError, ConfigError, InputError
from idseg.models.configs import normalize_config_name, resolve_config
from idseg.models.sam2 import (
    build_model,
    load_sam2,
    read_state_dict,
    resolve_model,
    select_device,
    suggest_config,
)
from idseg.sam.predictor import SAM2Predictor


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sam2.1_hiera_t", "sam2.1_hiera_t"),
        ("sam2.1_hiera_tiny", "sam2.1_hiera_t"),
        ("configs/sam2.1/sam2.1_hiera_s.yaml", "sam2.1_hiera_s"),
        ("sam2.1-hiera-base-plus", "sam2.1_hiera_b+"),
        ("sam2_hiera_large", "sam2_hiera_l"),
        ("SAM2_HIERA_B+.yaml", "sam2_hiera_b+"),
    ],
)
def test_config_names_resolve(given, expected):
    assert normalize_config_name(given) == expected
    assert resolve_config(given).stem == expected


def test_config_yaml_path_is_accepted(tmp_path):
    src = resolve_config("idseg_test_tiny")
    copy = tmp_path / "my_model.yaml"
    copy.write_text(src.read_text())
    assert resolve_config(copy) == copy
    assert resolve_config(str(copy)) == copy
    model = build_model(copy)
    assert model.image_size == 256


def test_unknown_config_suggests_close_name():
    with pytest.raises(ConfigError, match=r"did you mean 'sam2\.1_hiera_t'"):
        resolve_config("sam2.1_hiera_tt")
    with pytest.raises(ConfigError, match="not found"):
        resolve_config("/no/such/config.yaml")


def test_malformed_yaml_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        build_model(bad)
    no_model = tmp_path / "nomodel.yaml"
    no_model.write_text("foo: 1\n")
    with pytest.raises(ConfigError, match="no top-level 'model'"):
        build_model(no_model)


def test_checkpoint_round_trip_is_meta_format(tiny_checkpoint, tiny_model):
    raw = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    assert set(raw) == {"model"}
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(raw["model"][key], value)


def test_config_is_inferred_from_checkpoint_name(tiny_checkpoint):
    resolved = resolve_model(tiny_checkpoint)
    assert resolved.config_name == "idseg_test_tiny"
    assert resolved.checkpoint == tiny_checkpoint


def test_missing_and_unexpected_keys_are_named(tiny_checkpoint, tmp_path):
    state = read_state_dict(tiny_checkpoint)
    state.pop("no_mem_embed")
    state["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.pt"
    torch.save({"model": state}, bad)
    with pytest.raises(CheckpointError) as info:
        load_sam2(bad, "idseg_test_tiny", device="cpu")
    text = str(info.value)
    assert "1 missing key(s): no_mem_embed" in text
    assert "1 unexpected key(s): extra.weight" in text
    assert "looks like config 'idseg_test_tiny'" in text


def test_wrong_config_names_shape_mismatch_and_suggests(tiny_checkpoint):
    with pytest.raises(CheckpointError) as info:
        load_sam2(tiny_checkpoint, "sam2.1_hiera_t", device="cpu")
    assert "shape key(s)" in str(info.value)
    assert "idseg_test_tiny" in str(info.value)


def test_pickled_objects_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="weights-only"):
        read_state_dict(path)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"not a checkpoint", "weights-only"), (pickle.dumps([1, 2]), "weights-only")],
)
def test_garbage_checkpoints_are_refused(tmp_path, content, fragment):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=fragment):
        read_state_dict(path)


def test_not_meta_format_is_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="Meta's format"):
        read_state_dict(path)


def test_missing_file_and_unknown_name():
    with pytest.raises(CheckpointError, match="not found"):
        load_sam2("/no/such/file.pt", "idseg_test_tiny")
    with pytest.raises(CheckpointError, match="neither an existing file"):
        load_sam2("definitely_not_a_model", "idseg_test_tiny")


def test_suggest_config_from_official_shapes():
    for name in ("sam2.1_hiera_t", "sam2_hiera_t"):
        model = build_model(name)
        assert suggest_config(model.state_dict()) == name


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(InputError, match="one of"):
        select_device("tpu")
    for bad in ("auto:0", "cpu:x", "cuda:x"):
        with pytest.raises(InputError):
            select_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            select_device("cuda")


@pytest.mark.slow
def test_official_tiny_config_parity_at_1024(tmp_path):
    """sam2.1_hiera_t with random weights, saved and loaded like a real checkpoint."""
    from idseg.models.sam2 import init_checkpoint

    ckpt = init_checkpoint("sam2.1_hiera_t", tmp_path / "sam2.1_hiera_tiny.pt", seed=1)
    model = load_sam2(ckpt, device="cpu")  # config inferred from the official file name
    from sam2.build_sam import build_sam2

    meta_model = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", str(ckpt), device="cpu")
    image = make_scene(480, 640)
    ours, meta = SAM2Predictor(model), meta_predictor(meta_model)
    ours.set_image(image)
    meta.set_image(image)
    rng = np.random.default_rng(0)
    for _ in range(10):
        pts = rng.uniform([0, 0], [640, 480], (2, 2))
        got = ours.predict(pts, [1, 0])
        ref, scores, _ = meta.predict(pts, np.array([1, 0]))
        for c in range(3):
            assert mask_iou(got.masks[0, c], ref[c]) >= 0.999
        np.testing.assert_allclose(got.scores[0], scores, atol=1e-4)


def test_config_is_inferred_from_weights_when_name_says_nothing(tiny_checkpoint, tmp_path):
    renamed = tmp_path / "my_finetuned_model.pt"
    renamed.write_bytes(tiny_checkpoint.read_bytes())
    assert resolve_model(renamed).config_name == "idseg_test_tiny"


def test_config_targets_outside_sam2_are_refused(tmp_path):
    evil = tmp_path / "evil.yaml"
    src = resolve_config("idseg_test_tiny").read_text()
    evil.write_text(
        src.replace("_target_: sam2.modeling.memory_encoder.CXBlock", "_target_: os.system")
    )
    with pytest.raises(ConfigError, match=r"os\.system"):
        build_model(evil)


def test_no_checkpoint_means_error_unless_random_weights_asked():
    with pytest.raises(ConfigError, match="no checkpoint given"):
        resolve_model(None, "idseg_test_tiny")
    resolved = resolve_model(None, "idseg_test_tiny", random_weights=True)
    assert resolved.checkpoint is None
    model = load_sam2(None, "idseg_test_tiny", device="cpu", random_weights=True)
    assert model.image_size == 256
