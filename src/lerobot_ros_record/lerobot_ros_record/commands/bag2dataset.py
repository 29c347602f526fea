"""`lerobot-ros bag2dataset BAG... --contract FILE --output DIR`: convert rosbag2 recordings into a LeRobot dataset."""

from __future__ import annotations

import argparse
import sys

from lerobot_ros_core.cli import Command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bags", nargs="+", metavar="BAG", help="rosbag2 directories (sqlite3 or MCAP)")
    parser.add_argument("--contract", required=True, help="feature contract YAML")
    parser.add_argument("--output", required=True, help="dataset directory to create (or append to with --resume)")
    parser.add_argument("--repo-id", default=None, help="dataset repo id (default: local/<output name>)")
    parser.add_argument("--task", default=None, help="task text for every episode (overrides bag metadata/topics)")
    parser.add_argument("--event-topic", default="/recorder/episode_events", help="EpisodeEvent topic splitting bags")
    parser.add_argument("--split-by-task", action="store_true", help="start an episode at each task topic message")
    parser.add_argument("--resume", action="store_true", help="append episodes to an existing dataset")
    parser.add_argument("--codec", default="libsvtav1", choices=("libsvtav1", "h264", "hevc"), help="video codec")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from lerobot_ros_core.contract import ContractError, load_contract
    from lerobot_ros_record.bag import BagError, convert_bags
    from lerobot_ros_record.dataset import DatasetError, WriterConfig

    try:
        contract = load_contract(args.contract)
    except ContractError as error:
        print(f"bag2dataset: {error}", file=sys.stderr)
        return 2
    output = Path(args.output)
    bar = tqdm(unit="msg", disable=args.no_progress, dynamic_ncols=True)

    def progress(count: int, description: str) -> None:
        bar.set_description(description, refresh=False)
        bar.update(count)

    try:
        result = convert_bags(
            args.bags,
            contract,
            output,
            args.repo_id or f"local/{output.name}",
            task=args.task,
            writer_config=WriterConfig(fps=contract.fps, video_codec=args.codec),
            event_topic=args.event_topic,
            split_by_task=args.split_by_task,
            resume=args.resume,
            progress=progress,
            log=bar.write,
        )
    except (BagError, DatasetError, ContractError) as error:
        bar.close()
        print(f"bag2dataset: {error}", file=sys.stderr)
        if (output / "meta" / "info.json").exists():
            print(f"bag2dataset: the episodes saved before the error are in {output}", file=sys.stderr)
        return 1
    bar.close()
    for skipped in result.skipped:
        print(f"skipped: {skipped}", file=sys.stderr)
    for episode in result.episodes:
        print(f"episode {episode.index}: {episode.frames} frames; {episode.report.summary()}")
    print(f"{len(result.episodes)} episode(s) written to {output}")
    return 0 if result.episodes else 1


COMMAND = Command(
    help="convert rosbag2 recordings (sqlite3, MCAP) into a LeRobot v3.0 dataset",
    configure=_configure,
    run=_run,
    description=__doc__ or "",
)
