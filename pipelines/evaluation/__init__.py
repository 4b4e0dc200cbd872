"""The benchmark driver behind ``express4d evaluate``: :mod:`.benchmark` (test entries, the protocols'
draws, scoring with the ``express4d_metrics`` module, tables) and :mod:`.benchmark_generation` (what each
model generates for a run, batched, seeded per motion and cached)."""
