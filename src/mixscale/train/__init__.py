"""Training: domain corpora, the GPT trainer, the sweep runner, and the external-command trainer."""
