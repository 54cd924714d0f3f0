"""Training data: domain corpora built from installed packages or your own files, and the byte-level BPE tokenizer."""
