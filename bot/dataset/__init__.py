"""The dataset: what trains and its export (export), the cookbook's checks, token counts and
cost (validation/, tokens), preference pairs (preferences), JSONL files in (importing, reading
within bounds in jsonl_lines, checks in file_checks, redaction in example_redaction), and
temporary files on disk (tempfiles)."""
