"""Batches: many videos admitted together (a list of prompts, or variants of one form), all charged or none."""
