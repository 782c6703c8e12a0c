"""Moderation: operators' accounts and login, the queue of submissions, diffs and duplicates."""
