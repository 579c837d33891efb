"""Every `/finetune` command, declared once: what it does, whether it is for admins and what it
takes. Its answer goes to the person who asked, on every front end (an ephemeral message, the
terminal); what a command posts for everyone (a job's message, compared answers) is part of
what it does. Slack's parser and help, the App Home's start form, Discord's application
commands and the command line are built from this table or checked against it
(tests/handlers/test_command_table.py fails when one drifts)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """A `name=value` option."""

    name: str
    help: str
    kind: type = str  # str, int or float
    low: float | None = None  # the range a number must fall in, both ends included
    high: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    name: str
    usage: str  # "[syntax]: what it does", as help lists it; what it does fits in 100 characters
    admin: bool = False  # spends money or changes what everyone talks to: admins only
    options: tuple[Option, ...] = ()
    words: bool = False  # takes free words (a model, `dpo`, `estimate`, a prompt)
    chat_only: bool = False  # about a workspace or server: not offered in the terminal

    @property
    def summary(self) -> str:
        """What it does, without its syntax (for command pickers)."""
        text = self.usage
        return text.split(": ", 1)[1] if text.startswith(("[", "<")) else text

    def option(self, name: str) -> Option:
        return next(option for option in self.options if option.name == name)


MAX_EPOCHS = 50
MAX_HOLDOUT = 0.5
MAX_BETA = 2.0
METHODS = ("supervised", "dpo")

PROVIDER = Option("provider", "where to train (default: the configured training provider)")
MODEL = Option("model", "base model to fine-tune (default: FINETUNE_BASE_MODEL)")
EPOCHS = Option(
    "epochs", "training epochs (default: chosen from the dataset size)", int, 1, MAX_EPOCHS
)
START_OPTIONS = (
    PROVIDER,
    MODEL,
    EPOCHS,
    Option("suffix", "added to the fine-tuned model's name"),
    Option("holdout", "fraction held out for validation", float, 0.0, MAX_HOLDOUT),
    Option(
        "method",
        "supervised (the examples, default) or dpo (the preference pairs)",
        choices=METHODS,
    ),
    Option("beta", "DPO only: how strongly to keep close to the base model", float, 0.0, MAX_BETA),
)

COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Command(
            "status", "the dataset, the model in use, the active job and the last finished ones"
        ),
        Command(
            "validate",
            "check the dataset and estimate tokens and cost, without spending anything",
            options=(PROVIDER, MODEL, EPOCHS, START_OPTIONS[5]),
        ),
        Command(
            "start",
            "[provider=<name>] [model=<base>] [epochs=<n>] [suffix=<s>] [holdout=<fraction>] "
            "[method=dpo beta=<b>]: start fine-tuning the dataset (admins)",
            admin=True,
            options=START_OPTIONS,
        ),
        Command("cancel", "cancel the active job (admins)", admin=True),
        Command(
            "models", "the models this bot has used, newest first, with their comparison records"
        ),
        Command(
            "compare",
            "[model=<id>] [provider=<name>] <prompt>: the model in use and another answer the "
            "same prompt side by side; everyone picks the better one",
            options=(
                Option("model", "the model to put beside the one in use"),
                Option("provider", "where that model is served"),
            ),
            words=True,
        ),
        Command(
            "use",
            "<model> [provider=<name>]: switch to a model, wherever it is served (admins)",
            admin=True,
            options=(Option("provider", "where the model is served (default: as used before)"),),
            words=True,
        ),
        Command("rollback", "switch back to the previous model (admins)", admin=True),
        Command(
            "providers",
            "each provider: reachable or not, what it can do, its models and shutdown dates",
        ),
        Command(
            "migrate",
            "[estimate] [provider=<name>] [model=<base>]: retrain on MIGRATION_TARGET, compare, "
            "and switch before the model in use shuts down (admins)",
            admin=True,
            options=(
                Option("provider", "where to retrain (default: MIGRATION_TARGET's)"),
                Option("model", "the base model there (default: MIGRATION_TARGET's)"),
            ),
            words=True,
        ),
        Command(
            "policy",
            "[every=<n>] [schedule=<day HH:MM>] [budget=<usd>] [off|reset]: when I train by "
            "myself, and the budget; changing it is for admins",
            options=(
                Option("every", "start a job after this many new examples (off: never)"),
                Option(
                    "schedule", "`mon 09:00` (weekly) or `daily 09:00`, UTC, if anything is new"
                ),
                Option("budget", "dollars of training a month, estimates included (off: none)"),
            ),
            words=True,
        ),
        Command("ledger", "what each job cost, and each month's total"),
        Command(
            "settings",
            "[prompt=<text>] [emoji=<a,b>] [reset]: this team's system prompt and approving "
            "emoji; changing them is for admins",
            options=(
                Option("prompt", "the system prompt I answer with (quoted)"),
                Option("emoji", "the reactions that approve a reply here, comma-separated"),
            ),
            words=True,
            chat_only=True,
        ),
        Command(
            "link",
            "[<code>]: no code: show one; another place's code: join its team, one dataset and "
            "model (admins)",
            admin=True,
            words=True,
            chat_only=True,
        ),
        Command(
            "export",
            "[dpo]: send you the dataset as an OpenAI chat fine-tuning .jsonl file "
            "(dpo: the preference pairs)",
            words=True,
        ),
        Command(
            "forget-me",
            "remove everything holding your messages or words, with every copy; stop recording you",
        ),
        Command("include-me", "let your conversations and votes be recorded again"),
        Command("help", "list these commands"),
    )
}
