"""`lerobot-ros policy-server`: serve the checkpoints of a manifest to remote policy nodes (no ROS needed)."""

from __future__ import annotations

import argparse

from lerobot_ros_core.cli import Command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "manifest", help="YAML manifest: models (name, path, revision, device, dtype, warmup), transport"
    )
    parser.add_argument("--listen", action="append", help="Zenoh endpoint to listen on (replaces the manifest's)")
    parser.add_argument("--connect", action="append", help="Zenoh endpoint or router to connect to")
    parser.add_argument("--name", help="server name (Zenoh key lerobot_ros/policy/<name>), default: the manifest's")
    parser.add_argument("--http-port", type=int, help="health and metrics port (0 = any free one)")
    parser.add_argument("--log-level", default="INFO", help="Python logging level of the audit log (stderr)")


def _run(args: argparse.Namespace) -> int:
    import dataclasses
    import logging
    import signal
    import threading

    from lerobot_ros_policy.remote.server import PolicyServer, ServerConfig

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    config = ServerConfig.from_yaml(args.manifest)
    transport = config.transport
    if args.listen:
        transport = dataclasses.replace(transport, listen=tuple(args.listen))
    if args.connect:
        transport = dataclasses.replace(transport, connect=tuple(args.connect))
    overrides = {"transport": transport}
    if args.name:
        overrides["name"] = args.name
    if args.http_port is not None:
        overrides["http_port"] = args.http_port
    server = PolicyServer(dataclasses.replace(config, **overrides))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.serve(stop, on_ready=lambda line: print(line, flush=True))
    return 0


COMMAND = Command(
    help="serve policy checkpoints to remote robots over Zenoh (GPU machine side; needs no ROS)",
    configure=_configure,
    run=_run,
    description=__doc__ or "",
)
