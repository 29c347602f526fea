"""`lerobot-ros dataset add-ee|rename|remove SOURCE --output DIR`: edit the features of a LeRobot v3.0 dataset.

Each writes a new dataset (videos hard-linked, not re-encoded; stats recomputed for what changed):

    lerobot-ros dataset add-ee DS --output DS_EE --feature observation.ee_state=observation.state \\
        --feature ee_action=action --urdf so101.urdf
    lerobot-ros dataset rename DS_EE --output DS_EE_ACTION action=joint_action ee_action=action
    lerobot-ros dataset remove DS --output DS_SMALL observation.images.wrist
"""

from __future__ import annotations

import argparse
import sys

from lerobot_ros_core.cli import Command


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        left, sep, right = value.partition("=")
        if not sep or not left or not right:
            raise ValueError(f"{what} {value!r} is not NAME=NAME")
        pairs[left] = right
    return pairs


def _configure(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = verbs.add_parser("add-ee", help="add end-effector features computed from joint features (FK)")
    rename = verbs.add_parser("rename", help="rename features (swaps allowed: action=joint_action ee_action=action)")
    remove = verbs.add_parser("remove", help="remove features")
    for verb in (add, rename, remove):
        verb.add_argument("source", help="LeRobot v3.0 dataset directory")
        verb.add_argument("--output", required=True, help="new dataset directory (must not exist or be empty)")
        verb.add_argument("--repo-id", default=None, help="repo id of the new dataset (default: local/<output name>)")
        verb.add_argument("--contract", default=None, help="feature contract, if the dataset stores none")
    add.add_argument(
        "--feature",
        action="append",
        required=True,
        metavar="EE_KEY=JOINT_KEY",
        help="EE feature to add and the joint-position feature it is computed from (repeatable)",
    )
    add.add_argument(
        "--urdf", required=True, help="robot description (URDF) of the arm: a file or package://<package>/<path>"
    )
    add.add_argument("--frame", default="gripper_frame_link", help="tool frame of the URDF")
    add.add_argument("--joints", nargs="+", default=None, help="arm joints (default: the joint feature's, no gripper)")
    add.add_argument("--gripper", default=None, help="joint reported as ee.gripper_pos (default: 'gripper' if present)")
    rename.add_argument("pairs", nargs="+", metavar="OLD=NEW", help="features to rename")
    remove.add_argument("keys", nargs="+", metavar="KEY", help="features to remove")


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lerobot_ros_core.contract import ContractError, load_contract
    from lerobot_ros_core.description import PACKAGE_SCHEME
    from lerobot_ros_record.dataset import DatasetError
    from lerobot_ros_record.dataset.edit import FeatureEdit, edit_dataset

    try:
        contract = load_contract(args.contract) if args.contract else None
        edit = FeatureEdit()
        if args.verb == "add-ee":
            urdf = args.urdf if args.urdf.startswith(PACKAGE_SCHEME) else str(Path(args.urdf).resolve())
            for key, source in _pairs(args.feature, "--feature").items():
                ee = {"from": source, "urdf": urdf, "frame": args.frame}
                if args.joints:
                    ee["joints"] = list(args.joints)
                if args.gripper:
                    ee["gripper"] = args.gripper
                edit.add_ee[key] = {"ee": ee}
        elif args.verb == "rename":
            edit.rename = _pairs(args.pairs, "rename")
        else:
            edit.remove = set(args.keys)
        result = edit_dataset(Path(args.source), Path(args.output), edit, contract, args.repo_id)
    except (ValueError, ContractError, DatasetError) as error:
        print(f"dataset {args.verb}: {error}", file=sys.stderr)
        return 1
    changes = [f"added {result.added}" if result.added else "", f"renamed {result.renamed}" if result.renamed else ""]
    changes.append(f"removed {result.removed}" if result.removed else "")
    print(
        f"{args.output}: {result.episodes} episode(s), {result.frames} frames, {result.linked_videos} video file(s) "
        f"linked; {'; '.join(c for c in changes if c)}"
    )
    return 0


COMMAND = Command(
    help="edit a LeRobot v3.0 dataset's features: add EE features, rename, remove (videos not re-encoded)",
    configure=_configure,
    run=_run,
    description=__doc__ or "",
)
