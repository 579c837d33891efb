"""The platform-free core of the fine-tuning chat bot."""
