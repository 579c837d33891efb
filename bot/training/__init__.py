"""Training: starting jobs on a provider (finetune, with launch for the upload and creation,
analysis for the check, adoption for a job between its start and the provider's answer),
where progress shows (reporting), following a job to the end (watcher), the one owner of the
model in use (model_switch), what each base model costs and allows (model_table), the files a
job uploads (files) and what is kept of them (snapshots), progress and the loss chart, and
continuous training: when the bot starts a job by itself (policy, schedule) and what every job
cost (ledger)."""
