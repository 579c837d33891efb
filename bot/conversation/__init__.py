"""Conversations: answering people, their history, and turning approved turns into examples."""
