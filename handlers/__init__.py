"""Platform adapters: Slack (Bolt), the HTTP server, and later Discord and the CLI."""
