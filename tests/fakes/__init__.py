"""In-process fake Slack and OpenAI servers for tests."""
