"""Training: starting jobs on a provider (finetune), following them to the end and swapping
(watcher), /finetune use and rollback (model_switch), what each base model costs and allows
(model_table), the files a job uploads (files) and what is kept of them (snapshots), progress
and the loss chart."""
