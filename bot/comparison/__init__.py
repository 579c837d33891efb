"""Comparing two models on the same conversations with the team as judges (compare), and how
forgetting reaches comparisons (copies)."""
