"""Training: the compact GPT, its trainer, the scale ladder and the resumable sweep."""
