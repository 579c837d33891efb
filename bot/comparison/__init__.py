"""Comparing two models on the same conversations with the team as judges: starting and
answering comparisons (compare, the `Comparer` everyone calls), which models (sides), making a
pair (answering), which conversations and their cost (held_out), people's picks and what they
decide (verdict), what front ends show (views), and how forgetting reaches comparisons (copies)."""
