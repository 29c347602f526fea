"""`lerobot-ros` subcommands of the drivers package: calibrate, find-port, setup-motors."""
