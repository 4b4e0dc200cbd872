"""Training of every express4d model with accelerate (entry point: ``training/train.py``)."""
