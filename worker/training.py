"""One LoRA supervised fine-tuning run with TRL's SFTTrainer and PEFT.

Runs in a thread of the worker (never in an event loop of the bot). Progress goes out through
a `report` callable after every step; its answer ("continue", "cancel", "lost", "shutdown")
is honoured at the step boundary. The heavy imports live here and only here.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, disable_progress_bars
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
from trl import SFTConfig, SFTTrainer

from worker.dataset import build_rows
from worker.run import Report, Stopped, Trained, TrainingError, TrainingRun

logger = logging.getLogger(__name__)

# Progress goes to Redis and the log through `_Progress`, not to bars on stdout.
disable_progress_bars()


def train(run: TrainingRun, report: Report) -> Trained | Stopped:
    hp = run.hyperparameters
    try:
        tokenizer = AutoTokenizer.from_pretrained(run.base_model)
    except OSError as exc:
        raise TrainingError(
            f"The worker can't load the base model {run.base_model}: give a local directory "
            "or a model already in the Hugging Face cache."
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    train_rows = build_rows(tokenizer, run.training_file, hp.max_seq_length)
    eval_rows = (
        build_rows(tokenizer, run.validation_file, hp.max_seq_length)
        if run.validation_file
        else None
    )
    trained_tokens = sum(len(row["input_ids"]) for row in train_rows) * run.epochs

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    model = AutoModelForCausalLM.from_pretrained(
        run.base_model, dtype=torch.bfloat16 if bf16 else torch.float32
    )
    lora = LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    progress = _Progress(report)
    with tempfile.TemporaryDirectory(prefix="lora-run-") as scratch:
        config = SFTConfig(
            output_dir=scratch,
            num_train_epochs=run.epochs,
            per_device_train_batch_size=hp.batch_size,
            per_device_eval_batch_size=hp.batch_size,
            gradient_accumulation_steps=hp.gradient_accumulation_steps,
            learning_rate=hp.learning_rate,
            max_length=hp.max_seq_length,
            logging_steps=1,
            save_strategy="no",
            eval_strategy="epoch" if eval_rows else "no",
            report_to="none",
            bf16=bf16,
            seed=hp.seed,
            disable_tqdm=True,
            dataloader_pin_memory=torch.cuda.is_available(),
        )
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(train_rows),
            eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[progress],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    state = trainer.state
    if progress.stopped:
        return Stopped(progress.stopped, state.global_step, state.max_steps)
    _save_adapter(trainer.model, run.adapter_dir)
    return Trained(
        adapter_dir=run.adapter_dir,
        trained_tokens=trained_tokens,
        step=state.global_step,
        total_steps=state.max_steps,
        train_loss=progress.loss,
    )


def _save_adapter(model: Any, adapter_dir: Path) -> None:
    """Write next to the target and rename, so a server never sees half an adapter."""
    adapter_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = adapter_dir.with_name(adapter_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    shutil.rmtree(adapter_dir, ignore_errors=True)
    partial.rename(adapter_dir)


class _Progress(TrainerCallback):
    """Sends step, loss and a few events out; stops at a step boundary when told."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.loss: float | None = None
        self.stopped: str | None = None
        self._next_event = 1

    def on_train_begin(self, args, state, control, **kwargs):
        self._answer(
            self.report(
                event=f"Training {state.max_steps} steps "
                f"({args.num_train_epochs:g} epochs) on the local worker.",
                step=0,
                total_steps=state.max_steps,
            ),
            control,
        )

    def on_step_end(self, args, state, control, **kwargs):
        self._answer(self.report(step=state.global_step, total_steps=state.max_steps), control)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        self.loss = float(logs["loss"])
        event = None
        # A few human events: the first step, every tenth of the run, and the last.
        if state.global_step >= self._next_event or state.global_step == state.max_steps:
            event = f"Training {state.global_step}/{state.max_steps} steps, loss {self.loss:.2f}"
            logger.info("worker: %s", event)
            tenth = max(1, state.max_steps // 10)
            self._next_event = (state.global_step // tenth + 1) * tenth
        self._answer(self.report(event=event, train_loss=round(self.loss, 4)), control)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics and "eval_loss" in metrics:
            event = f"Validation loss {metrics['eval_loss']:.2f} at step {state.global_step}"
            self._answer(self.report(event=event), control)

    def _answer(self, outcome: str, control) -> None:
        if outcome != "continue" and self.stopped is None:
            self.stopped = outcome
        if self.stopped:
            control.should_training_stop = True
