"""A resampler configured from a feature contract: one stream per feature."""

from __future__ import annotations

from lerobot_ros_core.contract import Contract
from lerobot_ros_record.resample.resampler import Resampler, StreamConfig


def resampler_for(contract: Contract, deadline: float = 0.5) -> Resampler:
    streams = [
        StreamConfig(
            name=spec.key,
            rule=spec.sync.rule,
            max_age=spec.sync.max_age,
            tolerance=spec.sync.tolerance,
            gap=spec.sync.gap,
            topic=spec.topic,
            past_limit=spec.sync.past_limit,
        )
        for spec in contract.features_spec
    ]
    return Resampler(
        contract.fps,
        streams,
        max_backward_jump=contract.max_backward_jump,
        max_forward_jump=contract.max_forward_jump,
        max_stamp_leap=contract.max_stamp_leap,
        deadline=deadline,
    )
