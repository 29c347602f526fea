"""`lerobot-ros find-cameras`: list OpenCV (V4L2) and RealSense cameras with their modes and save a
test frame from each (like lerobot-find-cameras), so you know what to put in `source` / `serial`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lerobot_ros_core.cli import Command


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", choices=("all", "opencv", "realsense"), default="all")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("outputs/captured_images"),
        help="where the test frames are saved (default: %(default)s)",
    )
    parser.add_argument("--no-frames", action="store_true", help="only list the cameras, save no frames")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        help="also try this OpenCV source (device path or video file; repeatable)",
    )


def _save(path: Path, rgb) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")


def find_opencv(args: argparse.Namespace, show=print) -> int:
    from lerobot_ros_drivers.cameras.capture import CameraError
    from lerobot_ros_drivers.cameras.opencv import OpenCVCameraConfig, first_frame, list_video_devices

    devices = list_video_devices()
    entries = [(d.path, d.name, d.modes) for d in devices] + [(s, "(given source)", []) for s in args.source]
    if not entries:
        show("OpenCV: no V4L2 video devices (/sys/class/video4linux is empty)")
    found = 0
    for source, name, modes in entries:
        show(f"OpenCV camera {source}: {name}")
        if modes:
            show(f"  modes accepted: {', '.join(modes)}")
        if args.no_frames:
            found += 1
            continue
        try:
            frame = first_frame(OpenCVCameraConfig(source))
        except CameraError as error:
            show(f"  no frame: {error}")
            continue
        target = args.output_dir / f"opencv_{Path(source).name}.png"
        _save(target, frame)
        show(f"  {frame.shape[1]}x{frame.shape[0]} frame saved to {target}")
        found += 1
    return found


def find_realsense(args: argparse.Namespace, show=print) -> int:
    from lerobot_ros_drivers.cameras.capture import CameraError
    from lerobot_ros_drivers.cameras.realsense import RealSenseCamera, RealSenseConfig, list_realsense_devices

    try:
        devices = list_realsense_devices()
    except CameraError as error:
        show(f"RealSense: {error}")
        return 0
    if not devices:
        show("RealSense: no devices")
    for device in devices:
        show(f"RealSense {device.name}: serial {device.serial}, firmware {device.firmware}, USB {device.usb}")
        for mode in device.modes:
            show(f"  {mode}")
        if args.no_frames:
            continue
        camera = RealSenseCamera(RealSenseConfig(serial=device.serial, depth=False))
        try:
            camera.open()
            frame = camera.read().color
        except CameraError as error:
            show(f"  no frame: {error}")
            continue
        finally:
            camera.close()
        target = args.output_dir / f"realsense_{device.serial}.png"
        _save(target, frame)
        show(f"  {frame.shape[1]}x{frame.shape[0]} frame saved to {target}")
    return len(devices)


def run(args: argparse.Namespace) -> int:
    found = 0
    if args.kind in ("all", "opencv"):
        found += find_opencv(args)
    if args.kind in ("all", "realsense"):
        found += find_realsense(args)
    if not found:
        print("no cameras found", file=sys.stderr)
        return 1
    return 0


COMMAND = Command(
    help="list cameras (OpenCV/V4L2, RealSense) with their modes and save a test frame from each",
    configure=configure,
    run=run,
    description=__doc__ or "",
)
