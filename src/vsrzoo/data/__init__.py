"""Data: video I/O, datasets, degradations, the training DataModule and the built-in samples."""
