"""`lerobot-ros` subcommands of the policy package."""
