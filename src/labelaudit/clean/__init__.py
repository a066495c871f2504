"""Turning an audit into a cleaned dataset: the filter plan and writing it in the input's format."""
