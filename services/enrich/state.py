"""Followers of compacted state topics: moved to ``platestream.state`` (shared by enrich, ingest's
camera manager and investigate); kept here so existing imports keep working."""

from platestream.state import Apply, StateFollower

__all__ = ["Apply", "StateFollower"]
