"""The local GPU worker: takes fine-tuning jobs from Redis and trains LoRA adapters.

Run it as its own process (`python -m worker`), beside the bot, on a machine with a GPU and
the `[local]` extra installed. It imports nothing from `bot/`; see worker/README.md.
"""
