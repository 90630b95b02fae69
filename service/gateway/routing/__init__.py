"""Routing: which target serves a call, and what to do when one fails.

``policy`` holds the pure decisions; ``runner`` is the one loop that acts on them.
"""
