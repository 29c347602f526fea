"""rosbag2 recordings → a LeRobot v3.0 dataset, through the same frames, resampler and writer as the recorder.

Episodes: one per bag; or, when a bag holds episode events (`recorder/episode_events`,
lerobot_ros_msgs/EpisodeEvent), the spans between START and END (DISCARD drops one); or, when
asked, one per message on the task topic. Task text: the argument, else the event's or task
topic's text, else the bag's metadata (`custom_data: {task: ...}`), else the contract's default.
A truncated bag ends with a BagError after the episodes before the damage are saved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lerobot_ros_core.contract import Contract, ContractError
from lerobot_ros_record.bag.reader import (
    EPISODE_EVENT_TYPE,
    TASK_TYPE,
    Bag,
    BagError,
    BagMessage,
    absolute_topic,
)
from lerobot_ros_record.frames import SavedEpisode
from lerobot_ros_record.session import (
    DatasetConfig,
    DatasetExistsError,
    EpisodeFailed,
    EpisodeRefused,
    EpisodeSaved,
    EpisodeSplit,
    Event,
    RecordingSession,
    open_dataset,
)

EVENT_START, EVENT_END, EVENT_DISCARD = 0, 1, 2
DEFAULT_EVENT_TOPIC = "/recorder/episode_events"


@dataclass
class ConversionResult:
    root: Path
    episodes: list[SavedEpisode] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why an episode was not written
    contract: Contract | None = None


@dataclass
class _Span:
    """A stretch of one bag that becomes one episode."""

    start_ns: int | None
    end_ns: int | None
    task: str | None


def dataset_contract(contract: Contract, bags: Sequence[Bag]) -> Contract:
    """The contract checked against the bags: optional features no bag carries are left out."""
    absent: set[str] = set()
    for spec in contract.features_spec:
        topic = absolute_topic(spec.topic)
        carrying = [bag for bag in bags if topic in bag.topics]
        for bag in carrying:
            if bag.topics[topic] != spec.message_type.name:
                raise BagError(
                    f"bag {bag.path}: topic {topic} has type {bag.topics[topic]}, "
                    f"the contract's feature {spec.key!r} expects {spec.message_type.name}"
                )
        if len(carrying) == len(bags):
            continue
        if not spec.required and not carrying:
            absent.add(spec.key)
            continue
        lacking = next(bag for bag in bags if topic not in bag.topics)
        raise BagError(
            f"bag {lacking.path} has no topic {topic} for the contract's "
            f"{'required ' if spec.required else ''}feature {spec.key!r} "
            f"(topics in the bag: {', '.join(sorted(lacking.topics)) or 'none'})"
        )
    return contract.without(absent) if absent else contract


def _spans(bag: Bag, event_topic: str, task_topic: str | None, split_by_task: bool) -> list[_Span]:
    if bag.topics.get(event_topic) == EPISODE_EVENT_TYPE:
        spans: list[_Span] = []
        current: _Span | None = None
        for item in bag.messages({event_topic}):
            event, stamp, task = item.msg.event, item.log_time_ns, item.msg.task or None
            if event == EVENT_START:
                current = _Span(stamp, None, task)
            elif current is not None and event in (EVENT_END, EVENT_DISCARD):
                if event == EVENT_END:
                    current.end_ns = stamp
                    spans.append(current)
                current = None
        if current is not None:  # started, never ended: the bag stops mid-episode
            spans.append(current)
        return spans
    if split_by_task:
        if task_topic is None or bag.topics.get(task_topic) != TASK_TYPE:
            raise BagError(f"bag {bag.path}: no std_msgs/String task topic {task_topic} to split episodes by")
        starts = [(m.log_time_ns, m.msg.data) for m in bag.messages({task_topic})]
        return [
            _Span(start, starts[i + 1][0] if i + 1 < len(starts) else None, text)
            for i, (start, text) in enumerate(starts)
        ]
    return [_Span(None, None, None)]


def _bag_task(bag: Bag, task_topic: str | None) -> str | None:
    metadata = bag.metadata()
    for key in ("lerobot_ros.task", "task"):
        if metadata.get(key):
            return metadata[key]
    if task_topic is not None and bag.topics.get(task_topic) == TASK_TYPE:
        for item in bag.messages({task_topic}):
            return item.msg.data
    return None


def convert_bags(
    paths: Sequence[str | Path],
    contract: Contract,
    output: str | Path,
    repo_id: str,
    *,
    task: str | None = None,
    writer_config: Any | None = None,
    event_topic: str = DEFAULT_EVENT_TOPIC,
    split_by_task: bool = False,
    resume: bool = False,
    progress: Callable[[int, str], Any] | None = None,
    log: Callable[[str], Any] = print,
) -> ConversionResult:
    """Convert bags into the dataset at `output`; `progress(n_messages, description)` is called as it goes."""
    from lerobot_ros_record.dataset import WriterConfig

    if not paths:
        raise BagError("no bag given")
    bags = [Bag(path) for path in paths]
    try:
        contract = dataset_contract(contract, bags)
        output = Path(output)
        config = DatasetConfig(repo_id, writer_config or WriterConfig(fps=contract.fps), resume=resume)
        try:
            dataset = open_dataset(output, contract, config)
        except DatasetExistsError as error:
            raise BagError(f"{error}; pass resume=True (--resume) to append episodes") from error
        except ContractError as error:
            raise BagError(str(error)) from error
        contract = dataset.contract
        result = ConversionResult(output, contract=contract)
        session = RecordingSession(dataset, deadline=max(contract.max_backward_jump, 0.5))
        topics = {absolute_topic(spec.topic): spec.topic for spec in contract.features_spec}
        task_topic = absolute_topic(contract.task_topic) if contract.task_topic else None
        try:
            for bag in bags:
                _convert_bag(
                    bag,
                    session,
                    topics=topics,
                    task=task,
                    task_topic=task_topic,
                    event_topic=event_topic,
                    split_by_task=split_by_task,
                    contract=contract,
                    result=result,
                    progress=progress,
                    log=log,
                )
                log(f"{bag.path}: {len(result.episodes)} episode(s) so far")
        finally:
            session.finalize()
        return result
    finally:
        for bag in bags:
            bag.close()


def _convert_bag(
    bag: Bag,
    session: RecordingSession,
    *,
    topics: dict[str, str],
    task: str | None,
    task_topic: str | None,
    event_topic: str,
    split_by_task: bool,
    contract: Contract,
    result: ConversionResult,
    progress: Callable[[int, str], Any] | None,
    log: Callable[[str], Any],
) -> None:
    spans = _spans(bag, absolute_topic(event_topic), task_topic, split_by_task)
    fallback_task = task or _bag_task(bag, task_topic) or contract.task
    wanted = set(topics) & set(bag.topics)
    stream = bag.messages(wanted)
    pending: BagMessage | None = None
    for number, span in enumerate(spans):
        episode_task = task or span.task or fallback_task
        if not episode_task:
            raise BagError(f"bag {bag.path}: no task for episode {number} (give --task, a task topic or bag metadata)")
        session.start(episode_task)
        count = 0
        while True:
            item = pending if pending is not None else next(stream, None)
            pending = None
            if item is None:
                break
            if span.start_ns is not None and item.log_time_ns < span.start_ns:
                continue
            if span.end_ns is not None and item.log_time_ns > span.end_ns:
                pending = item
                break
            session.push(session.convert(topics[item.topic], item.msg, item.log_time_ns))
            count += 1
            if count % 64 == 0:
                _collect(session.tick(), bag, result, log)
                if progress is not None:
                    progress(64, f"{bag.path.name} ep {number}")
        _collect(session.save(), bag, result, log)
        if progress is not None:
            progress(count % 64, f"{bag.path.name} ep {number}")


def _collect(events: list[Event], bag: Bag, result: ConversionResult, log: Callable[[str], Any]) -> None:
    """Saved episodes into the result; a failure (writer, past_limit: fail) ends the conversion, saved ones stay."""
    for event in events:
        if isinstance(event, EpisodeSaved | EpisodeSplit):
            result.episodes.append(event.episode)
        if isinstance(event, EpisodeSplit):
            log(f"{bag.path}: episode {event.episode.index} ends: {event.reason}; the rest: episode {event.next_index}")
        elif isinstance(event, EpisodeRefused):
            result.skipped.append(f"{bag.path}: {event.reason}")
        elif isinstance(event, EpisodeFailed):
            raise event.error or BagError(f"bag {bag.path}: {event.reason}")
