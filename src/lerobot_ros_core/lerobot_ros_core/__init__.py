"""The base of the suite: node plumbing (`node/`), the feature contract (`contract/`), ROS message
helpers (`messages/`) and the message → feature converters (`features`). No hardware dependencies."""
