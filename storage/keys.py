"""Every Redis key name, in one place.

All keys of one bot share one hash tag (`bot:{acme}:…`), so multi-key transactions and Lua
scripts stay on one slot and also work on Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.schemas import MessageKey

DEFAULT_TEAM = "default"


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def _base(self) -> str:
        return f"bot:{{{self.prefix}}}"

    def turn(self, message: MessageKey) -> str:
        return f"{self._base}:turn:{message.path}"

    def thread(self, conversation: MessageKey) -> str:
        """Points at the latest turn of a thread, so the next reply continues from it."""
        return f"{self._base}:thread:{conversation.path}"

    def turn_texts(self, conversation: MessageKey) -> str:
        """Hash: content id -> message JSON, every message the conversation's turns sent to the
        model and every reply, stored once; a stored turn names its messages and reply by these
        ids. It lives as long as the conversation's newest turn."""
        return f"{self._base}:turn-texts:{conversation.path}"

    def conversation_turns(self, conversation: MessageKey) -> str:
        """Set of the keys of the conversation's turns, to tell which texts a live turn needs."""
        return f"{self._base}:conversation-turns:{conversation.path}"

    @property
    def reply_parts(self) -> str:
        """Hash: ref of a later part of a split reply -> id of its first part (the turn).

        Kept without expiry, like votes: a reaction removed after the turn expired must still
        find the vote it takes back. Only replies longer than one message have entries.
        """
        return f"{self._base}:reply-parts"

    @property
    def examples(self) -> str:
        """Sorted set of example ids in the dataset, scored by when they were first approved."""
        return f"{self._base}:examples"

    def example(self, example_id: str) -> str:
        return f"{self._base}:example:{example_id}"

    def votes(self, example_id: str) -> str:
        return f"{self._base}:votes:{example_id}"

    @property
    def approved_replies(self) -> str:
        """Hash: reply ref (`channel|ts`) -> example id, to mark approved history replies."""
        return f"{self._base}:approved-replies"

    def vote_clock(self, ref: str) -> str:
        """Hash of each person's latest vote or veto event time on the reply `ref`: a late
        event never undoes a newer one. It expires (the order matters for minutes, not for
        ever), so it does not grow with every reply ever judged."""
        return f"{self._base}:vote-clock:{ref}"

    @property
    def voter_counts(self) -> str:
        """Sorted set: example id -> how many distinct people approved it (for quorum)."""
        return f"{self._base}:voter-counts"

    @property
    def imported(self) -> str:
        """Set of example ids an operator imported (they train without waiting for votes)."""
        return f"{self._base}:imported"

    def vetoes(self, example_id: str) -> str:
        """Hash: user -> the veto (when, on which reply, why) against one example."""
        return f"{self._base}:vetoes:{example_id}"

    @property
    def vetoed(self) -> str:
        """Set of example ids with at least one veto: never exported, whatever their votes."""
        return f"{self._base}:vetoed"

    @property
    def veto_refs(self) -> str:
        """Hash: reply ref -> the example id its vetoes count against (found without the turn)."""
        return f"{self._base}:veto-refs"

    @property
    def pairs(self) -> str:
        """Sorted set of preference pair ids, scored by when they were made."""
        return f"{self._base}:pairs"

    def pair(self, pair_id: str) -> str:
        return f"{self._base}:pair:{pair_id}"

    @property
    def corrections(self) -> str:
        """Hash: reply ref -> its latest correction (the example and pair it made)."""
        return f"{self._base}:corrections"

    def from_message(self, ref: str) -> str:
        """Set of what holds a message's text (`example:<id>`, `pair:<id>`, `turn:<path>`),
        so deleting the message removes them."""
        return f"{self._base}:from-message:{ref}"

    def from_person(self, user: str) -> str:
        """Set of what holds a person's messages, for `/finetune forget-me`."""
        return f"{self._base}:from-person:{user}"

    def turns_from_message(self, ref: str) -> str:
        """The same for turns, which expire: kept as long as the turns it names."""
        return f"{self._base}:turns-from-message:{ref}"

    def turns_from_person(self, user: str) -> str:
        return f"{self._base}:turns-from-person:{user}"

    def feedback(self, ref: str) -> str:
        """Hash of each person's latest feedback-button click on the reply `ref`."""
        return f"{self._base}:feedback:{ref}"

    @property
    def feedback_voters(self) -> str:
        """Set of people who have voted with a button (told once that it counted)."""
        return f"{self._base}:feedback-voters"

    @property
    def opted_out(self) -> str:
        """Set of people whose conversations are not recorded as examples."""
        return f"{self._base}:opted-out"

    @property
    def dataset_stats(self) -> str:
        """Hash of running totals (approximate tokens) so status needs no full scan."""
        return f"{self._base}:dataset-stats"

    @property
    def vote_journal(self) -> str:
        """Stream of votes acknowledged while the bot was saturated, applied when it has time."""
        return f"{self._base}:vote-journal"

    def seen_event(self, event_id: str) -> str:
        return f"{self._base}:seen-event:{event_id}"

    @property
    def job_lock(self) -> str:
        """Held from `/finetune start` until the job finishes: one active job per bot."""
        return f"{self._base}:job:lock"

    @property
    def active_job(self) -> str:
        return f"{self._base}:job:active"

    def job(self, job_id: str) -> str:
        return f"{self._base}:job:{job_id}"

    def comparison(self, comparison_id: str) -> str:
        return f"{self._base}:comparison:{comparison_id}"

    @property
    def comparisons(self) -> str:
        """Sorted set of every comparison id by creation time."""
        return f"{self._base}:comparisons"

    @property
    def running_comparisons(self) -> str:
        """Set of comparisons with conversations still to answer."""
        return f"{self._base}:comparisons:running"

    def compared_pair(self, pair_id: str) -> str:
        return f"{self._base}:compared-pair:{pair_id}"

    def picks(self, pair_id: str) -> str:
        """Hash person -> "a" | "b" | "same" | "bad" for one compared pair."""
        return f"{self._base}:picks:{pair_id}"

    def job_metrics(self, job_id: str) -> str:
        """Hash of step -> [training loss, validation loss] of one job."""
        return f"{self._base}:job-metrics:{job_id}"

    def job_export(self, job_id: str) -> str:
        """Hash: what a job was trained on (storage/jobs.py), until the job and its gate end."""
        return f"{self._base}:job-export:{job_id}"

    @property
    def job_exports(self) -> str:
        """Set of the job ids that still keep an export snapshot, for forgetting to reach."""
        return f"{self._base}:job-exports"

    @property
    def finished_jobs(self) -> str:
        return f"{self._base}:jobs:finished"

    @property
    def watcher_lease(self) -> str:
        """Names the one process that watches the active job; expires if it dies."""
        return f"{self._base}:job:watcher"

    @property
    def active_model(self) -> str:
        return f"{self._base}:model:active"

    @property
    def model_history(self) -> str:
        return f"{self._base}:model:history"

    @property
    def gone_models(self) -> str:
        """Hash: `provider:model` -> the day its provider stopped serving it."""
        return f"{self._base}:model:gone"

    @property
    def migration(self) -> str:
        """The current or last move of the model to another provider (bot/providers/migration)."""
        return f"{self._base}:migration"

    def notice(self, notice: str) -> str:
        """Held while a notice said once (a day, or for good) must not be said again."""
        return f"{self._base}:notice:{notice}"

    def pending_votes(self, reply: MessageKey) -> str:
        """Hash: `user:judgement` -> a reaction made on a reply whose turn was not recorded yet
        (its answer still streaming); applied when the turn is recorded."""
        return f"{self._base}:pending-votes:{reply.path}"

    # Spending (storage/spending.py) ---------------------------------------------------------

    def calls_this_minute(self, person: str, minute: int) -> str:
        """Counter of the model calls `person` (`platform:user`) caused in one minute."""
        return f"{self._base}:spend:calls:{person}:{minute}"

    def spend(self, day: str) -> str:
        """Hash: `usd` and `tokens` spent on model calls on `day` (UTC, YYYY-MM-DD)."""
        return f"{self._base}:spend:day:{day}"

    # Continuous training (storage/policy.py, storage/ledger.py) ------------------------------

    @property
    def policy(self) -> str:
        """The training policy an admin set in chat (JSON), over the settings'."""
        return f"{self._base}:policy"

    def policy_slot(self, slot: str) -> str:
        """Set once the policy acted on a scheduled slot, so it acts on each slot once."""
        return f"{self._base}:policy:slot:{slot}"

    def ledger(self, month: str) -> str:
        """Hash: job id -> its ledger entry (JSON), for jobs started in `month` (YYYY-MM)."""
        return f"{self._base}:ledger:{month}"

    @property
    def ledger_months(self) -> str:
        """Set of the months the ledger has entries for."""
        return f"{self._base}:ledger:months"

    # Slack installations (storage/installations.py): the deployment's, not a team's ----------

    def slack_installation(self, workspace: str) -> str:
        """Hash: `bot` and `installation`, each encrypted, of one installed workspace."""
        return f"{self._base}:slack-installation:{workspace}"

    # Teams (bot/teams/): deployment-level keys, under the deployment's own prefix ----------

    @property
    def team_places(self) -> str:
        """Hash: place (`slack:T…`, `discord:…`) -> the id of the team it belongs to."""
        return f"{self._base}:team-places"

    @property
    def team_records(self) -> str:
        """Hash: team id -> its record (admins, settings, when it was uninstalled)."""
        return f"{self._base}:team-records"

    @property
    def team_activity(self) -> str:
        """Hash: team id -> when one of its places was last heard from (to the minute)."""
        return f"{self._base}:team-activity"

    @property
    def teams_adopted(self) -> str:
        """Set once the data kept before teams was given to the first team."""
        return f"{self._base}:teams-adopted"

    def link_code(self, code: str) -> str:
        """A `/finetune link` code: the team and the place that showed it, for minutes."""
        return f"{self._base}:link-code:{code}"

    def team(self, team: str) -> Keys:
        """The keys of one team: its own hash tag, so Redis Cluster spreads teams over its
        masters. The first team (`DEFAULT_TEAM`) keeps the deployment's own keys, so a
        deployment from before teams finds its data where it was."""
        return self if team == DEFAULT_TEAM else Keys(f"{self.prefix}.{team}")

    @property
    def slack_installations(self) -> str:
        """Set of the workspaces installed."""
        return f"{self._base}:slack-installations"

    def oauth_state(self, nonce: str) -> str:
        """Set when an install's state is used, until it expires (storage/oauth_states.py)."""
        return f"{self._base}:oauth-state:{nonce}"

    # The local GPU workers (storage/gpu_queue.py; SAQ keeps the jobs themselves) -----------

    def local_file(self, file_id: str) -> str:
        """Hash: one uploaded JSONL file (gzip + base64), its name and sha256."""
        return f"{self._base}:local:file:{file_id}"

    def local_progress(self, job_id: str) -> str:
        """Hash: what the worker reported of a job: step, loss, the adapter it wrote."""
        return f"{self._base}:local:progress:{job_id}"

    def local_job_events(self, job_id: str) -> str:
        """List of the job's events, newest first, capped."""
        return f"{self._base}:local:job-events:{job_id}"
