"""Compare a checkpoint's features with what the robot side provides (the feature contract), saying
exactly what differs: names, order, shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lerobot_ros_policy.checkpoint.config import FeatureType, PolicyFeature
from lerobot_ros_policy.checkpoint.errors import FeatureMismatchError


def policy_shape(feature_type: FeatureType, dataset_shape: Sequence[int]) -> tuple[int, ...]:
    """Dataset feature shape → policy shape: images `(H, W, C)` become `(C, H, W)` as in `config.json`."""
    shape = tuple(int(d) for d in dataset_shape)
    if feature_type == FeatureType.VISUAL and len(shape) == 3:
        return (shape[2], shape[0], shape[1])
    return shape


def feature_differences(expected: Mapping[str, PolicyFeature], provided: Mapping[str, Sequence[int]]) -> list[str]:
    """Human-readable differences between the checkpoint's features and provided `{name: shape}`
    (policy layout); empty when they agree. Order matters only among vector features of one type."""
    differences = []
    for name in expected:
        if name not in provided:
            differences.append(f"'{name}' {list(expected[name].shape)} is required by the checkpoint but not provided")
    for name in provided:
        if name not in expected:
            differences.append(f"'{name}' {list(provided[name])} is provided but the checkpoint has no such feature")
    for name, feature in expected.items():
        if name in provided and tuple(provided[name]) != feature.shape:
            differences.append(f"'{name}': checkpoint shape {list(feature.shape)}, provided {list(provided[name])}")
    return differences


def check_features(
    expected: Mapping[str, PolicyFeature], provided: Mapping[str, Sequence[int]], *, context: str
) -> None:
    """Raise `FeatureMismatchError` listing every difference (see `feature_differences`)."""
    differences = feature_differences(expected, provided)
    if differences:
        raise FeatureMismatchError(f"{context}: features do not match: " + "; ".join(differences))


def check_names(expected: Sequence[str], provided: Sequence[str], *, what: str) -> None:
    """Same names in the same order (e.g. action columns vs. joint names), or a precise error."""
    if list(expected) == list(provided):
        return
    missing = [n for n in expected if n not in provided]
    extra = [n for n in provided if n not in expected]
    if missing or extra:
        raise FeatureMismatchError(f"{what}: missing {missing}, unexpected {extra} (expected {list(expected)})")
    first = next(i for i, (a, b) in enumerate(zip(expected, provided, strict=True)) if a != b)
    raise FeatureMismatchError(
        f"{what}: same names in a different order, first difference at index {first}: expected "
        f"'{expected[first]}', got '{provided[first]}' (expected order {list(expected)})"
    )
