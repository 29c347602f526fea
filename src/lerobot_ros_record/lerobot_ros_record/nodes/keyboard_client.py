"""Keyboard control of the recorder, with lerobot-record's keys, in a plain terminal (works over SSH).

→  save the episode and go on (next)      ←  discard it and record it again      Esc  stop (finalize)
Enter starts an episode when the recorder is idle (manual mode). The terminal is put in cbreak
mode (no X server, no root), so keys arrive one by one; it is restored on exit.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import tty
from collections.abc import Iterator
from typing import Literal

Key = Literal["right", "left", "escape", "enter", "quit"]

_SEQUENCES: dict[bytes, Key] = {b"\x1b[C": "right", b"\x1bOC": "right", b"\x1b[D": "left", b"\x1bOD": "left"}


class KeyDecoder:
    """Bytes from a terminal → keys. A lone ESC is Escape only if no sequence byte follows in time."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[Key]:
        keys: list[Key] = []
        buffer = self._pending + data
        self._pending = b""
        while buffer:
            if buffer[:1] == b"\x1b":
                if len(buffer) == 1:
                    self._pending = buffer
                    break
                if buffer[1:2] in (b"[", b"O"):
                    if len(buffer) < 3:
                        self._pending = buffer
                        break
                    key = _SEQUENCES.get(buffer[:3])
                    if key is not None:
                        keys.append(key)
                    buffer = buffer[3:]
                    continue
                keys.append("escape")
                buffer = buffer[1:]
            elif buffer[:1] in (b"\r", b"\n"):
                keys.append("enter")
                buffer = buffer[1:]
            elif buffer[:1] in (b"q", b"\x03"):
                keys.append("quit")
                buffer = buffer[1:]
            else:
                buffer = buffer[1:]
        return keys

    def timeout(self) -> list[Key]:
        """No more bytes came: a pending lone ESC is the Escape key."""
        pending, self._pending = self._pending, b""
        return ["escape"] if pending == b"\x1b" else []


def read_keys(fd: int, escape_delay: float = 0.05) -> Iterator[Key]:
    """Keys typed on terminal `fd` (cbreak mode for the duration)."""
    decoder = KeyDecoder()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    if saved is not None:
        tty.setcbreak(fd, termios.TCSANOW)  # keep keys typed before the switch
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], escape_delay)
            if not ready:
                yield from decoder.timeout()
                continue
            data = os.read(fd, 64)
            if not data:
                return
            yield from decoder.feed(data)
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run_client(namespace: str, task: str, fd: int) -> int:
    import rclpy
    from rclpy.action import ActionClient
    from std_srvs.srv import Trigger

    from lerobot_ros_msgs.action import RecordEpisode
    from lerobot_ros_msgs.srv import SaveEpisode

    rclpy.init()
    node = rclpy.create_node("recorder_keyboard", namespace=namespace)
    prefix = "recorder/"
    save = node.create_client(SaveEpisode, prefix + "save_episode")
    discard = node.create_client(Trigger, prefix + "discard_episode")
    finalize = node.create_client(Trigger, prefix + "finalize")
    record = ActionClient(node, RecordEpisode, prefix + "record_episode")

    def call(client, request, what: str) -> None:
        if not client.wait_for_service(timeout_sec=2.0):
            print(f"\r{what}: the recorder is not reachable ({client.srv_name})", flush=True)
            return
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=30.0)
        response = future.result()
        if response is None:
            print(f"\r{what}: no answer within 30 s", flush=True)
        else:
            print(f"\r{what}: {'ok' if response.success else 'refused'} {response.message}", flush=True)

    print("→ save & next   ← re-record   Esc stop   Enter start episode   q quit", flush=True)
    try:
        for key in read_keys(fd):
            if key == "right":
                call(save, SaveEpisode.Request(), "save")
            elif key == "left":
                call(discard, Trigger.Request(), "re-record")
            elif key == "escape":
                call(finalize, Trigger.Request(), "stop")
                return 0
            elif key == "enter":
                if record.wait_for_server(timeout_sec=2.0):
                    record.send_goal_async(RecordEpisode.Goal(task=task))
                    print(f"\rstart: episode requested ({task!r})", flush=True)
                else:
                    print("\rstart: the recorder action server is not reachable", flush=True)
            else:
                return 0
            rclpy.spin_once(node, timeout_sec=0.0)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", default="/", help="namespace of the recorder node")
    parser.add_argument("--task", default="", help="task of episodes started with Enter (manual mode)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    args, _ = parser.parse_known_args(argv)
    return run_client(args.namespace, args.task, sys.stdin.fileno())


if __name__ == "__main__":
    sys.exit(main())
