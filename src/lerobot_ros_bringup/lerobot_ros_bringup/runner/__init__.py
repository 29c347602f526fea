"""Starts graph descriptions as processes, without the `launch` package."""
