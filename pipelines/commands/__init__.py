"""The ``express4d`` command line, one module per command (:mod:`.express4d_cli` holds ``main``), and the
Gradio demo (:mod:`.demo`).  ``python -m pipelines.commands`` runs the command line too."""
