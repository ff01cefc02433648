"""Investigations: cloned and misread plates live; convoys, journeys, origin-destination and dwell in SQL."""
