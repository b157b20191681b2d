"""Segment-everything: parity with Meta's SAM2AutomaticMaskGenerator, results, clean-up, settings.

Two models are compared with Meta's generator, each on the *same* model object for both sides:

* ``tiny_model``, the random-weight tiny SAM2. Its logits are tiny (|x| < 0.2) and its masks are
  image-wide speckle that hardly depends on the point, so Meta's defaults keep nothing and box NMS
  collapses everything into one mask. The permissive settings therefore use a small
  ``stability_score_offset`` and ``box_nms_thresh=1.0``: this checks the real network end to end
  (decode, m2m, filters, stability, RLE, records) on hundreds of masks.
* ``blob``: the same model (same backbone and embeddings) with a deterministic prompt encoder and
  mask decoder that draw three discs around each point, modulated by the image features. Its
  masks are localised, so box NMS, the crop-edge filter and the cross-crop NMS do real work and
  Meta's default thresholds keep masks.
"""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pycocotools import mask as coco_mask
from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
from sam2.utils.amg import MaskData, area_from_rle, mask_to_rle_pytorch, rle_to_mask
from torch import nn

from _helpers import make_scene, mask_iou
from idseg.errors import ConfigError, InputError
from idseg.sam.everything import EverythingGenerator, segment_everything
from idseg.sam.postprocess import (
    UPSCALE_CHUNK,
    binarise_logits,
    box_nms,
    clean_mask,
    postprocess_small_regions,
)
from idseg.sam.predictor import SAM2Predictor
from idseg.sam.settings import EverythingSettings, preset


class PointPassThrough(nn.Module):
    """Prompt encoder double: sparse prompts are the raw ``(x, y, label)``, dense the mask input."""

    def forward(self, points, boxes, masks):
        coords, labels = points
        return torch.cat([coords, labels[..., None].float()], -1), masks

    def get_dense_pe(self):
        return torch.zeros(1)


class BlobDecoder(nn.Module):
    """Mask decoder double: discs of three radii around the point, plus image features."""

    RADII = (6.0, 12.0, 24.0)

    def __init__(self, image_size: int, slope: float = 6.0):
        super().__init__()
        self.scale = (image_size // 4) / image_size
        self.slope = slope

    def forward(
        self,
        image_embeddings,
        image_pe,
        sparse_prompt_embeddings,
        dense_prompt_embeddings,
        multimask_output,
        repeat_image,
        high_res_features=None,
    ):
        low = image_embeddings.shape[-1] * 4
        pts = sparse_prompt_embeddings[:, 0, :2] * self.scale
        feat = F.interpolate(image_embeddings[:, :1], (low, low), mode="bilinear")[0, 0]
        feat = (feat - feat.mean()) / (feat.std() + 1e-6)
        axis = torch.arange(low, dtype=torch.float32) + 0.5
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")
        dist = torch.sqrt(
            (xx[None] - pts[:, 0, None, None]) ** 2 + (yy[None] - pts[:, 1, None, None]) ** 2
        )
        radii = torch.tensor(self.RADII)[None, :, None, None]
        logits = (radii - dist[:, None]) * self.slope + 0.7 * feat
        phase = 0.21 * pts[:, :1] + 0.13 * pts[:, 1:] + 1.7 * torch.arange(3.0)[None]
        iou = 0.5 + 0.45 * torch.sin(phase)
        if dense_prompt_embeddings is not None:
            logits = logits + 0.5 * dense_prompt_embeddings
            iou = iou + 0.02 * torch.tanh(dense_prompt_embeddings.mean(dim=(1, 2, 3)))[:, None]
        if multimask_output:
            return logits, iou, None, None
        return logits[:, 1:2], iou[:, 1:2], None, None


@pytest.fixture(scope="module")
def blob(tiny_model):
    model = copy.deepcopy(tiny_model)
    decoder = BlobDecoder(int(model.image_size))
    decoder.conv_s0 = model.sam_mask_decoder.conv_s0  # used by the backbone path
    decoder.conv_s1 = model.sam_mask_decoder.conv_s1
    model.sam_prompt_encoder = PointPassThrough()
    model.sam_mask_decoder = decoder
    return model


@pytest.fixture(scope="module")
def image():
    return make_scene(180, 240)


# Keeps hundreds of the random model's masks (see the module docstring).
PERMISSIVE = {
    "points_per_side": 8,
    "pred_iou_thresh": 0.0,
    "stability_score_offset": 0.01,
    "stability_score_thresh": 0.3,
    "box_nms_thresh": 1.0,
}
BLOB = {"points_per_side": 8, "pred_iou_thresh": 0.3, "stability_score_thresh": 0.7}
GRID = np.random.default_rng(5).uniform(0.05, 0.95, (50, 2))


def meta_records(model, image, **kwargs):
    gen = SAM2AutomaticMaskGenerator(model, **kwargs)
    s = int(model.image_size)
    gen.predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    return gen.generate(image)


def decode(segmentation) -> np.ndarray:
    if isinstance(segmentation, np.ndarray):
        return segmentation.astype(bool)
    if isinstance(segmentation["counts"], str):  # compressed COCO RLE
        rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode()}
        return coco_mask.decode(rle).astype(bool)
    return rle_to_mask(segmentation)


def match(ours: list[dict], ref: list[dict]) -> dict[str, float]:
    """Greedy one-to-one matching on (point, predicted IoU), then mask IoU; returns the worst."""
    assert len(ours) == len(ref)
    ref_masks = [decode(r["segmentation"]) for r in ref]
    used: set[int] = set()
    worst = {"n": len(ours), "min_iou": 1.0, "max_score_diff": 0.0}
    for rec in ours:
        mask = decode(rec["segmentation"])
        candidates = [
            j
            for j, r in enumerate(ref)
            if j not in used
            and np.allclose(r["point_coords"], rec["point_coords"], atol=1e-3)
            and abs(r["predicted_iou"] - rec["predicted_iou"]) <= 1e-4
        ]
        assert candidates, f"no Meta mask for point {rec['point_coords']}"
        j = max(candidates, key=lambda k: mask_iou(mask, ref_masks[k]))
        used.add(j)
        iou = mask_iou(mask, ref_masks[j])
        diff = max(
            abs(rec["predicted_iou"] - ref[j]["predicted_iou"]),
            abs(rec["stability_score"] - ref[j]["stability_score"]),
        )
        assert iou >= 0.999
        assert diff <= 1e-4
        assert rec["bbox"] == ref[j]["bbox"]
        assert rec["crop_box"] == ref[j]["crop_box"]
        assert rec["area"] == ref[j]["area"] == int(mask.sum())
        worst["min_iou"] = min(worst["min_iou"], iou)
        worst["max_score_diff"] = max(worst["max_score_diff"], diff)
    return worst


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="a-multimask"),
        pytest.param({"multimask_output": False}, id="b-single"),
        pytest.param({"use_m2m": True}, id="d-m2m"),
        pytest.param({"points_per_side": None, "point_grids": [GRID]}, id="e-grids"),
    ],
)
def test_parity_random_model(tiny_model, image, extra):
    """Meta's decoder module and full upsampling (``windowed=False``): Meta's arithmetic, so the
    same areas and boxes even where the random network's logits sit at the threshold."""
    kwargs = {**PERMISSIVE, **extra}
    meta_decoder = SAM2Predictor(tiny_model, fast_decoder=False)
    ours = EverythingGenerator(meta_decoder, windowed=False, **kwargs).generate_records(image)
    ref = meta_records(tiny_model, image, **kwargs)
    assert match(ours, ref)["n"] >= 5


def near_match(ours: list[dict], ref: list[dict], min_iou: float = 0.999) -> int:
    """Same count; each mask matches a Meta mask of the same point and predicted IoU."""
    assert len(ours) == len(ref)
    for rec in ours:
        same = [
            r
            for r in ref
            if np.allclose(r["point_coords"], rec["point_coords"], atol=1e-3)
            and abs(r["predicted_iou"] - rec["predicted_iou"]) <= 1e-4
        ]
        assert same, f"no Meta mask for point {rec['point_coords']}"
        best = max(mask_iou(decode(r["segmentation"]), decode(rec["segmentation"])) for r in same)
        assert best >= min_iou
    return len(ours)


@pytest.mark.parametrize(
    ("extra", "at_least"),
    [
        pytest.param({}, 5, id="a-multimask"),
        pytest.param({"use_m2m": True}, 5, id="d-m2m"),
        # the image-wide speckle of every crop collapses into one mask in the cross-crop NMS
        pytest.param({"crop_n_layers": 1, "crop_n_points_downscale_factor": 2}, 1, id="c-crops"),
    ],
)
def test_windowed_upsampling_matches_meta_on_the_real_network(tiny_model, image, extra, at_least):
    """The CPU default: windowed upsampling. The random network's logits hover at the threshold
    (|x| < 0.2, offset 0.01), the worst case for float rounding; masks still match at 0.999."""
    kwargs = {**PERMISSIVE, **extra}
    ours = EverythingGenerator(tiny_model, **kwargs).generate_records(image)
    assert near_match(ours, meta_records(tiny_model, image, **kwargs)) >= at_least


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="a-multimask"),
        pytest.param({"multimask_output": False}, id="b-single"),
        pytest.param({"crop_n_layers": 1, "crop_n_points_downscale_factor": 2}, id="c-crops"),
        pytest.param({"use_m2m": True}, id="d-m2m"),
        pytest.param({"points_per_side": None, "point_grids": [GRID]}, id="e-grids"),
    ],
)
def test_parity_localised_masks(blob, image, extra):
    kwargs = {**BLOB, **extra}
    ours = EverythingGenerator(blob, **kwargs).generate_records(image)
    ref = meta_records(blob, image, **kwargs)
    assert match(ours, ref)["n"] >= 5


def test_parity_two_crop_layers(blob, image):
    kwargs = {
        **BLOB,
        "points_per_side": 12,
        "crop_n_layers": 2,
        "crop_n_points_downscale_factor": 2,
    }
    ours = EverythingGenerator(blob, **kwargs).generate_records(image)
    ref = meta_records(blob, image, **kwargs)
    assert match(ours, ref)["n"] >= 5
    assert len({tuple(r["crop_box"]) for r in ours}) > 2  # masks come from several crops


def test_parity_with_meta_defaults(tiny_model, blob, image):
    ours = EverythingGenerator(blob).generate_records(image)
    assert match(ours, meta_records(blob, image))["n"] > 0
    # The random model never predicts IoU above 0.8: both sides keep nothing.
    assert EverythingGenerator(tiny_model).generate_records(image) == []
    assert meta_records(tiny_model, image) == []


def test_nms_paths_do_real_work(blob, image):
    crops = {**BLOB, "crop_n_layers": 1, "crop_n_points_downscale_factor": 2}
    kept = len(EverythingGenerator(blob, **crops).generate(image))
    no_crop_nms = len(EverythingGenerator(blob, **crops, crop_nms_thresh=1.0).generate(image))
    assert no_crop_nms > kept
    with_box_nms = len(EverythingGenerator(blob, **BLOB).generate(image))
    no_box_nms = len(EverythingGenerator(blob, **BLOB, box_nms_thresh=1.0).generate(image))
    assert no_box_nms > with_box_nms
    segments = EverythingGenerator(blob, **crops).generate(image)
    assert {s.crop_box for s in segments} - {(0, 0, 240, 180)}, "no mask from a smaller crop"


@pytest.mark.parametrize("mode", ["coco_rle", "uncompressed_rle"])
def test_rle_records_equal_meta(tiny_model, image, mode):
    """With Meta's decoder module the records are bit-identical (the fast decoder rounds apart)."""
    kwargs = {**PERMISSIVE, "output_mode": mode}
    meta_decoder = SAM2Predictor(tiny_model, fast_decoder=False)
    ours = EverythingGenerator(meta_decoder, windowed=False, **kwargs).generate_records(image)
    ref = meta_records(tiny_model, image, **kwargs)
    assert match(ours, ref)["n"] >= 5
    assert ours == ref  # same records, same order, same encoding
    binary = EverythingGenerator(meta_decoder, windowed=False, **PERMISSIVE).generate_records(image)
    for rec, bin_rec in zip(ours, binary, strict=True):
        assert np.array_equal(decode(rec["segmentation"]), bin_rec["segmentation"])


def test_record_keys_and_types_match_meta(blob, image):
    ours = EverythingGenerator(blob, **BLOB).generate_records(image)
    ref = meta_records(blob, image, **BLOB)
    assert ours and ref
    for rec, meta in zip(ours, ref, strict=True):
        assert rec.keys() == meta.keys()
        for key in rec:
            assert type(rec[key]) is type(meta[key]), key
        assert len(rec["bbox"]) == len(rec["crop_box"]) == 4
        assert rec["segmentation"].shape == image.shape[:2]


def test_segments_sorted_and_consistent(blob, image):
    kwargs = {**BLOB, "crop_n_layers": 1, "crop_n_points_downscale_factor": 2}
    segments = EverythingGenerator(blob, **kwargs).generate(image)
    assert len(segments) >= 5
    assert segments.image_hw == (180, 240)
    assert segments.settings["crop_n_layers"] == 1
    areas = [s.area for s in segments]
    assert areas == sorted(areas, reverse=True)
    for s in segments:
        assert s.mask.shape == (180, 240) and s.mask.dtype == bool
        assert s.area == int(s.mask.sum()) > 0
        ys, xs = np.nonzero(s.mask)
        assert s.bbox_xyxy == (xs.min(), ys.min(), xs.max(), ys.max())
        x0, y0, x1, y1 = s.crop_box
        assert 0 <= x0 < x1 <= 240 and 0 <= y0 < y1 <= 180
        assert x0 <= s.point[0] <= x1 and y0 <= s.point[1] <= y1
    # The same masks as Meta's records, crop boxes converted from XYWH.
    ref = meta_records(blob, image, **kwargs)
    ref_keys = {(tuple(r["point_coords"][0]), round(r["predicted_iou"], 5)): r for r in ref}
    assert len(ref_keys) == len(ref) == len(segments)
    for s in segments:
        r = ref_keys[(s.point, round(s.predicted_iou, 5))]
        x, y, w, h = r["crop_box"]
        assert s.crop_box == (x, y, x + w, y + h)
        assert np.array_equal(s.mask, r["segmentation"])
        assert s.stability_score == pytest.approx(r["stability_score"], abs=1e-6)


def test_precomputed_embedding_is_reused(blob, image):
    predictor = SAM2Predictor(blob)
    gen = EverythingGenerator(predictor, **BLOB)
    direct = gen.generate(image)
    reused = gen.generate(image, embedding=predictor.embed(image))
    assert len(direct) == len(reused) > 0
    for a, b in zip(direct, reused, strict=True):
        assert np.array_equal(a.mask, b.mask) and a.predicted_iou == b.predicted_iou
    with pytest.raises(InputError, match="embedding"):
        gen.generate(image, embedding=predictor.embed(make_scene(100, 120)))


def test_image_path_input(blob, image, tmp_path):
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image[:, :, ::-1])
    from_path = EverythingGenerator(blob, **BLOB).generate(path)
    from_array = EverythingGenerator(blob, **BLOB).generate(image)
    assert [s.area for s in from_path] == [s.area for s in from_array]


def test_no_mask_survives(blob, image):
    gen = EverythingGenerator(blob, pred_iou_thresh=1.0, points_per_side=4, crop_n_layers=1)
    segments = gen.generate(image)  # Meta's generator raises here (cross-crop NMS on nothing)
    assert len(segments) == 0 and segments.masks.shape == (0, 180, 240)
    assert gen.generate_records(image) == []


def test_segment_everything_presets_and_overrides(blob, image):
    via_settings = segment_everything(blob, image, settings=EverythingSettings(**BLOB))
    via_preset = segment_everything(blob, image, preset="default", **BLOB)
    assert len(via_settings) == len(via_preset) > 0
    assert via_preset.settings == EverythingSettings(**BLOB).to_dict()
    tuned = segment_everything(blob, image, EverythingSettings(**BLOB), box_nms_thresh=1.0)
    assert tuned.settings["box_nms_thresh"] == 1.0 and len(tuned) > len(via_settings)
    gen = EverythingGenerator.from_preset(blob, "documents", points_per_side=4)
    assert gen.settings == preset("documents").replace(points_per_side=4)
    assert gen.settings.box_nms_thresh == 0.6 and gen.settings.min_mask_region_area == 400
    with pytest.raises(ConfigError, match="unknown preset"):
        EverythingGenerator.from_preset(blob, "nope")


def test_constructor_validation(tiny_model):
    with pytest.raises(InputError, match="unknown"):
        EverythingGenerator(tiny_model, points_per_sid=8)
    with pytest.raises(InputError, match="pred_iou_thresh"):
        EverythingGenerator(tiny_model, pred_iou_thresh=1.5)
    with pytest.raises(InputError, match="SAM2Predictor"):
        EverythingGenerator("not a model")
    grids = EverythingGenerator(tiny_model, point_grids=[GRID])
    assert grids.settings.points_per_side is None and len(grids.point_grids[0]) == 50
    assert isinstance(EverythingGenerator(tiny_model).predictor, SAM2Predictor)


def _ring_with_holes() -> np.ndarray:
    mask = np.zeros((60, 60), dtype=bool)
    mask[5:45, 5:45] = True
    mask[10:12, 10:12] = False  # hole of 4 px: filled
    mask[20:32, 20:32] = False  # hole of 144 px: kept
    mask[52:54, 52:55] = True  # island of 6 px: removed
    return mask


def test_box_nms_keeps_best_of_overlapping_boxes():
    boxes = torch.tensor([[0, 0, 9, 9], [1, 1, 9, 9], [20, 20, 29, 29], [0, 0, 9, 4]])
    # IoU(0, 1) = 64 / 81 > 0.7; box 3 overlaps box 1 with IoU 24 / 76, below the threshold.
    keep = box_nms(boxes, torch.tensor([0.5, 0.9, 0.1, 0.3]), 0.7)
    assert keep.tolist() == [1, 3, 2]
    assert box_nms(boxes[:0], torch.zeros(0), 0.7).tolist() == []


def test_binarise_logits_chunks_equal_one_shot():
    gen = torch.Generator().manual_seed(0)
    n = 2 * UPSCALE_CHUNK + 3  # several chunks, the last one partial
    low_res = torch.randn(n, 8, 8, generator=gen) * 3
    calls = []

    def upscale(x, hw):
        calls.append(len(x))
        return F.interpolate(x, hw, mode="bilinear", align_corners=False)

    masks, scores = binarise_logits(low_res, (16, 20), upscale, 0.5, 1.0)
    assert calls == [UPSCALE_CHUNK, UPSCALE_CHUNK, 3]
    logits = F.interpolate(low_res[:, None], (16, 20), mode="bilinear", align_corners=False)[:, 0]
    assert torch.equal(masks, logits > 0.5)
    inter = (logits > 1.5).sum(dim=(1, 2)).float()
    union = (logits > -0.5).sum(dim=(1, 2)).float()
    torch.testing.assert_close(scores, inter / union)


def test_clean_mask_fills_small_holes_and_drops_small_islands():
    mask = _ring_with_holes()
    cleaned, changed = clean_mask(mask, 20)
    expected = np.zeros((60, 60), dtype=bool)
    expected[5:45, 5:45] = True
    expected[20:32, 20:32] = False
    assert changed and np.array_equal(cleaned, expected)
    again, changed_again = clean_mask(cleaned, 20)
    assert not changed_again and np.array_equal(again, expected)
    only_specks = np.zeros((20, 20), dtype=bool)
    only_specks[1, 1] = True
    only_specks[10:12, 10:12] = True
    kept, _ = clean_mask(only_specks, 50)  # every island small: the largest one stays
    assert kept.sum() == 4 and kept[10:12, 10:12].all()


def test_postprocess_prefers_unchanged_masks_and_updates_changed():
    square = np.zeros((60, 60), dtype=bool)
    square[5:45, 5:45] = True
    with_island = square.copy()
    with_island[52:54, 52:55] = True  # cleaned, it duplicates `square`
    holed = _ring_with_holes()[:, ::-1].copy()  # its island (columns 5-7) widens its box
    masks = torch.from_numpy(np.stack([with_island, square, holed]))
    data = MaskData(
        rles=mask_to_rle_pytorch(masks),
        boxes=torch.tensor([[5, 5, 54, 53], [5, 5, 44, 44], [5, 5, 54, 53]]),
        iou_preds=torch.tensor([0.99, 0.5, 0.7]),
    )
    out = postprocess_small_regions(data, 20, 0.7)
    assert len(out["rles"]) == 2
    assert out["iou_preds"].tolist() == pytest.approx([0.5, 0.7])  # the unchanged square won
    assert area_from_rle(out["rles"][0]) == 1600
    assert area_from_rle(out["rles"][1]) == 1600 - 144  # small hole filled, big hole kept
    assert out["boxes"][1].tolist() == [15, 5, 54, 44]  # island gone: box recomputed
    assert out["boxes"][0].tolist() == [5, 5, 44, 44]


def _small_regions(mask: np.ndarray, min_area: int) -> tuple[int, int]:
    counts = []
    for region in (mask, ~mask):
        _, _, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
        counts.append(int((stats[1:, cv2.CC_STAT_AREA] < min_area).sum()))
    return counts[0], counts[1]


def test_min_mask_region_area_cleans_every_mask_on_cpu(tiny_model, image):
    raw = EverythingGenerator(tiny_model, **PERMISSIVE).generate(image)
    assert any(sum(_small_regions(s.mask, 30)) for s in raw)  # the speckle has small regions
    cleaned = EverythingGenerator(tiny_model, **PERMISSIVE, min_mask_region_area=30).generate(image)
    assert len(cleaned) > 0
    for s in cleaned:
        islands, holes = _small_regions(s.mask, 30)
        n_islands = cv2.connectedComponents(s.mask.astype(np.uint8), connectivity=8)[0] - 1
        assert holes == 0
        assert islands == 0 or n_islands == 1
        assert s.area == int(s.mask.sum())
        ys, xs = np.nonzero(s.mask)
        assert s.bbox_xyxy == (xs.min(), ys.min(), xs.max(), ys.max())


def test_fast_decoder_records_match_meta(tiny_model, image):
    """The default (fast) decoder: the same masks as Meta's generator, within float rounding
    (logits within 5e-7 can still move a pixel where the random network sits at the threshold)."""
    ours = EverythingGenerator(tiny_model, windowed=False, **PERMISSIVE).generate_records(image)
    ref = meta_records(tiny_model, image, **PERMISSIVE)
    assert near_match(ours, ref) >= 5
