"""Redis repositories and their pydantic schemas. Knows nothing of Slack or OpenAI."""
