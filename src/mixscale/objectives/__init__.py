"""The kinds of objective a study can optimize: a Python callable, real training, an external command, a simulator."""
