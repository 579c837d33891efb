"""The dataset: what trains and its export (export), the cookbook's checks and token counts
(validation, tokens), preference pairs (preferences), JSONL files in (importing), and temporary
files on disk (tempfiles)."""
