"""Camera images through the preprocessor's lookup tables: bit for bit the per-pixel arithmetic (÷255,
then the normalizer step), for every normalization mode, input kind and layout; cameras the tables
cannot serve take the per-pixel path."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lerobot_ros_policy.checkpoint import ObservationError, PolicyFeature, Preprocessor
from lerobot_ros_policy.checkpoint.config import FeatureType
from lerobot_ros_policy.checkpoint.processors import (
    BATCH_STEP,
    DEVICE_STEP,
    NORMALIZER_STEP,
    ImageLookup,
    ProcessorPipelineSpec,
    ProcessorStepSpec,
)

CAMERA = "observation.images.front"
STATE = "observation.state"
HEIGHT, WIDTH = 37, 53  # odd sizes: no vectorisation-friendly shapes
FEATURES = {
    CAMERA: PolicyFeature(FeatureType.VISUAL, (3, HEIGHT, WIDTH)),
    STATE: PolicyFeature(FeatureType.STATE, (4,)),
}


def statistics(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    mean = rng.uniform(0.3, 0.6, shape)
    std = rng.uniform(0.05, 0.3, shape)
    stats = {"mean": mean, "std": std, "min": mean - 2 * std, "max": mean + 2 * std}
    for name, z in (("q01", -2.3), ("q10", -1.3), ("q90", 1.3), ("q99", 2.3)):
        stats[name] = mean + z * std
    stats["count"] = np.array([100.0])
    return {name: torch.tensor(value, dtype=torch.float32) for name, value in stats.items()}


def preprocessor(
    visual_mode: str,
    *,
    image_stats_shape: tuple[int, ...] = (3, 1, 1),
    float_dtype: str | None = None,
    reuse_image_buffers: bool = False,
) -> Preprocessor:
    rng = np.random.default_rng(0)
    state = {}
    for key, shape in ((CAMERA, image_stats_shape), (STATE, (4,))):
        state.update({f"{key}.{name}": value for name, value in statistics(rng, shape).items()})
    normalizer = {
        "eps": 1e-8,
        "features": {key: {"type": f.type.value, "shape": list(f.shape)} for key, f in FEATURES.items()},
        "norm_map": {"VISUAL": visual_mode, "STATE": "MEAN_STD"},
    }
    spec = ProcessorPipelineSpec(
        "policy_preprocessor",
        (
            ProcessorStepSpec(BATCH_STEP, {}),
            ProcessorStepSpec(DEVICE_STEP, {"device": "cpu", "float_dtype": float_dtype}),
            ProcessorStepSpec(NORMALIZER_STEP, normalizer, state),
        ),
        Path("policy_preprocessor.json"),
    )
    return Preprocessor(spec, FEATURES, torch.device("cpu"), reuse_image_buffers=reuse_image_buffers)


def observation(image: np.ndarray | torch.Tensor) -> dict[str, np.ndarray | torch.Tensor]:
    return {CAMERA: image, STATE: np.array([0.1, 0.2, 0.3, 0.4], np.float32)}


def per_pixel(image: np.ndarray) -> torch.Tensor:
    """The float (C, H, W) image in [0, 1] that LeRobot's `prepare_observation_for_inference` makes."""
    return torch.from_numpy(image).permute(2, 0, 1).contiguous().to(torch.float32).div(255)


@pytest.fixture
def image() -> np.ndarray:
    image = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8)
    image[0, :3] = [[0, 0, 0], [255, 255, 255], [1, 128, 254]]  # the extremes
    return image


@pytest.mark.parametrize("mode", ["MEAN_STD", "MIN_MAX", "QUANTILES", "QUANTILE10", "IDENTITY"])
def test_image_lookup_equals_per_pixel_arithmetic(mode: str, image: np.ndarray) -> None:
    pre = preprocessor(mode)
    assert list(pre.image_lookups) == [CAMERA]
    expected = pre(observation(per_pixel(image)))[CAMERA]  # float input: the per-pixel path
    for value in (image, torch.from_numpy(image), np.asfortranarray(image)):
        result = pre(observation(value))[CAMERA]
        assert result.dtype == torch.float32
        assert result.shape == (1, 3, HEIGHT, WIDTH)
        assert result.is_contiguous()
        assert torch.equal(result, expected)


def test_image_lookup_crop_views_and_state_untouched(image: np.ndarray) -> None:
    pre = preprocessor("MEAN_STD")
    padded = np.zeros((HEIGHT + 4, WIDTH + 6, 3), np.uint8)
    padded[2 : 2 + HEIGHT, 3 : 3 + WIDTH] = image
    view = padded[2 : 2 + HEIGHT, 3 : 3 + WIDTH]
    assert not view.flags.c_contiguous
    assert torch.equal(pre(observation(view))[CAMERA], pre(observation(image))[CAMERA])
    state = pre(observation(image))[STATE]
    reference = pre(observation(per_pixel(image)))[STATE]
    assert torch.equal(state, reference)
    assert state.shape == (1, 4)


def test_image_lookup_not_used_for_per_pixel_statistics(image: np.ndarray) -> None:
    pre = preprocessor("MEAN_STD", image_stats_shape=(3, HEIGHT, WIDTH))
    assert pre.image_lookups == {}
    stats = pre.normalizer.stats[CAMERA]
    expected = (per_pixel(image).unsqueeze(0) - stats["mean"]) / (stats["std"] + 1e-8)
    assert torch.equal(pre(observation(image))[CAMERA], expected)


def test_image_lookup_not_used_for_reduced_float_dtype(image: np.ndarray) -> None:
    pre = preprocessor("MEAN_STD", float_dtype="bfloat16")
    assert pre.image_lookups == {}
    result = pre(observation(image))[CAMERA]
    assert result.dtype == torch.bfloat16
    assert torch.equal(result, pre(observation(per_pixel(image)))[CAMERA])


def test_image_lookup_rejects_wrong_shapes(image: np.ndarray) -> None:
    pre = preprocessor("MEAN_STD")
    with pytest.raises(ObservationError, match=re.escape(f"uint8 image of shape [{WIDTH}, {HEIGHT}, 3]")):
        pre(observation(np.ascontiguousarray(image.transpose(1, 0, 2))))
    with pytest.raises(ObservationError, match=re.escape(f"uint8 image of shape [{HEIGHT}, {WIDTH}]")):
        pre(observation(image[..., 0]))


def test_image_lookup_buffer_reuse_only_when_asked(image: np.ndarray) -> None:
    other = 255 - image
    for reuse in (False, True):
        pre = preprocessor("MEAN_STD", reuse_image_buffers=reuse)
        first = pre(observation(image))[CAMERA]
        kept = first.clone()
        second = pre(observation(other))[CAMERA]
        assert torch.equal(second, pre(observation(per_pixel(other)))[CAMERA])
        assert (second.data_ptr() == first.data_ptr()) is reuse
        assert torch.equal(first, second if reuse else kept)


@pytest.mark.parametrize("shape", [(481, 640, 3), (2, 70000, 3), (480, 640, 1)])
def test_image_lookup_large_images_in_blocks(shape: tuple[int, int, int]) -> None:
    """Images converted in several row blocks (and rows wider than a block) come out whole."""
    rng = np.random.default_rng(2)
    table = torch.from_numpy(rng.standard_normal((shape[2], 256)).astype(np.float32))
    lookup = ImageLookup(table, reuse_output=True)
    for _ in range(2):  # the second call writes into the reused buffers
        image = rng.integers(0, 256, shape, np.uint8)
        expected = np.stack([table.numpy()[c][image[..., c]] for c in range(shape[2])])[None]
        np.testing.assert_array_equal(lookup(image).numpy(), expected)
