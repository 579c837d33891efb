"""The /finetune commands every front end runs: the language and the service behind it."""
