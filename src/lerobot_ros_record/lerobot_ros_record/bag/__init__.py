"""rosbag2 (sqlite3, MCAP) → LeRobot v3.0 dataset, with the recorder's frames, resampler and writer."""

from lerobot_ros_record.bag.convert import ConversionResult, convert_bags, dataset_contract
from lerobot_ros_record.bag.reader import Bag, BagError, typestore

__all__ = ["Bag", "BagError", "ConversionResult", "convert_bags", "dataset_contract", "typestore"]
