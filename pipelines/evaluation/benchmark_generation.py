"""Generating the benchmark's motions: many requests, each reproducible on its own, batched for speed, cached.

A :class:`GenerationRequest` is one motion to generate: the entry (a test caption and its real motion's length),
the replication it is for and the repeat (MultiModality asks for several per caption).  Its motion is
drawn from its own ``torch.Generator`` seeded by ``(seed, replication, entry, repeat)``, so how requests
are batched never changes what is drawn.  All requests of a run (every replication of the paper's
protocol included) are sorted by length and generated in large batches, every caption is encoded once
(``prompt_embeds``), and every finished batch is written to a cache folder (one small ``.npz`` per batch,
no pickle) keyed by the model's fingerprint, the seed and the sampling steps, so an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from express4d_dataset.atomic_file import atomic_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class GenerationRequest:
    """One motion to generate: for ``entry``, in ``replication``, the ``repeat``-th (0 = the ordinary one)."""

    replication: int
    entry: int
    repeat: int = 0

    @property
    def key(self) -> str:
        return f"{self.replication}:{self.entry}:{self.repeat}"


def request_seed(seed: int, request: GenerationRequest) -> int:
    """The generator seed of a request (a hash of the run seed and the request, < 2**63)."""
    digest = hashlib.sha256(f"{int(seed)}|{request.key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def pipeline_fingerprint(pipe) -> str:
    """Hash of a pipeline's class, own settings, component configs (scheduler included) and weights.

    Part of the generation cache key, so a retrained checkpoint in the same folder, or another
    scheduler, never reuses generations of the previous one.
    """
    import torch

    h = hashlib.sha256(type(pipe).__qualname__.encode())
    components = getattr(pipe, "components", None)
    if not isinstance(components, dict):
        components = {"pipeline": pipe}
    own = {k: v for k, v in dict(getattr(pipe, "config", None) or {}).items() if not k.startswith("_") and k not in components}
    if own:  # the pipeline's own settings, e.g. its default guidance scale (none: hashes as before)
        h.update(json.dumps(own, sort_keys=True, default=str).encode())
    for name in sorted(components):
        component = components[name]
        if component is None:
            continue
        h.update(name.encode())
        config = getattr(component, "config", None)
        if config is not None:
            config = config.to_dict() if hasattr(config, "to_dict") else dict(config)
            h.update(json.dumps(config, sort_keys=True, default=str).encode())
        if isinstance(component, torch.nn.Module):
            for key, tensor in component.state_dict().items():
                h.update(key.encode())
                h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def generate_requests(
    pipe,
    requests: Sequence[GenerationRequest],
    texts: Sequence[str],
    num_frames: Sequence[int],
    fps: float,
    num_inference_steps: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    guidance_scale: float | None = None,
    cache_dir: str | os.PathLike | None = None,
    guidance_rescale: float | None = None,
    progress: bool = True,
    desc: str = "generate",
    prompt_stages: str | None = None,
    lid_guidance_scale: float | None = None,
) -> dict[GenerationRequest, np.ndarray]:
    """``{request: [T, 61] float32 motion at fps}`` for every request.

    ``texts`` / ``num_frames`` are per entry (frames at ``fps``); a pipeline with another native rate is
    asked for the same duration and its output resampled; pipelines with ``max_frames`` are capped to it, and
    lengths are rounded up to the pipeline's ``length_multiple`` (T2M-GPT: frames per code) and cropped back.
    ``num_inference_steps`` goes to pipelines that support it (``pipe.supports``); ``guidance_scale`` and
    ``guidance_rescale`` and ``lid_guidance_scale`` (the pipeline's defaults when None) only to one that has them (``ValueError``
    otherwise).  The texts the requests need are encoded once and passed as ``prompt_embeds``.  ``cache_dir``:
    where finished batches are kept (files of another model, seed, step count or stage layout there are
    ignored).
    ``prompt_stages``: ``"auto"`` / ``"off"`` for a pipeline that splits staged prompts (``Express4DPipeline``;
    None: its default); when it splits them, the texts are passed as text (only texts the pipeline encodes are split).
    """
    import torch
    from tqdm.auto import tqdm

    from express4d_dataset.motion import resample

    if guidance_scale is not None and "guidance_scale" not in pipe.supports:
        raise ValueError(f"guidance_scale: {pipe.describe()} has no classifier-free guidance; leave it out")
    if guidance_rescale is not None and "guidance_rescale" not in pipe.supports:
        raise ValueError(f"guidance_rescale: {pipe.describe()} has no guidance rescale; leave it out")
    if lid_guidance_scale is not None and "lid_guidance_scale" not in pipe.supports:
        raise ValueError(f"lid_guidance_scale: {pipe.describe()} has no guidance of the lids; leave it out")
    if prompt_stages is not None and "prompt_stages" not in pipe.supports:
        raise ValueError(f"prompt_stages: {pipe.describe()} does not split prompts into stages; leave it out")
    staged = "prompt_stages" in pipe.supports and (prompt_stages or pipe.default_prompt_stages) == "auto"
    requests = sorted(set(requests))
    num_frames = [int(n) for n in num_frames]
    pipe_fps = float(getattr(pipe, "fps", fps) or fps)
    cap = int(getattr(pipe, "max_frames", 10**9))
    step = int(getattr(pipe, "length_multiple", 1))  # ask for a length the pipeline makes as asked (rounded up)
    want = {e: min(-(-max(1, int(round(num_frames[e] * pipe_fps / fps))) // step) * step, cap) for e in {r.entry for r in requests}}
    fingerprint = pipeline_fingerprint(pipe) if cache_dir is not None else ""
    extra = () if guidance_scale is None else (("guidance_scale", float(guidance_scale)),)  # old caches stay valid
    if guidance_rescale is not None:
        extra += (("guidance_rescale", float(guidance_rescale)),)
    if lid_guidance_scale is not None:
        extra += (("lid_guidance_scale", float(lid_guidance_scale)),)
    if staged:
        from ..mdm.prompt_stages import stage_layout

        extra += (("prompt_stages", "auto", *stage_layout()),)
    header = _cache_key(fingerprint, int(seed), num_inference_steps, float(fps), *extra)
    done = _read_cache(cache_dir, header)
    todo = [r for r in requests if r.key not in done]
    kwargs = {"output_type": "np"}
    if num_inference_steps is not None and "num_inference_steps" in pipe.supports:
        kwargs["num_inference_steps"] = int(num_inference_steps)
    if guidance_scale is not None:
        kwargs["guidance_scale"] = float(guidance_scale)
    if guidance_rescale is not None:
        kwargs["guidance_rescale"] = float(guidance_rescale)
    if lid_guidance_scale is not None:
        kwargs["lid_guidance_scale"] = float(lid_guidance_scale)
    if prompt_stages is not None:
        kwargs["prompt_stages"] = prompt_stages
    bar = tqdm(total=len(requests), initial=len(requests) - len(todo), desc=desc, unit="motion", disable=not progress)
    if todo:
        entries = sorted({r.entry for r in todo})
        row_of = {e: i for i, e in enumerate(entries)}
        embeds = None if staged else pipe.encode_prompt([texts[e] for e in entries], do_classifier_free_guidance=False)[0]
        todo.sort(key=lambda r: (want[r.entry], r))  # similar lengths together: less padding
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            out = pipe(
                [texts[r.entry] for r in batch],
                prompt_embeds=None if embeds is None else embeds[[row_of[r.entry] for r in batch]],
                num_frames=[want[r.entry] for r in batch],
                generator=[torch.Generator().manual_seed(request_seed(seed, r)) for r in batch],
                **kwargs,
            )
            out_fps = float(getattr(out, "fps", pipe_fps) or pipe_fps)
            finished = {}
            for r, motion in zip(batch, out.motions):
                m = np.asarray(motion, dtype=np.float32)
                if out_fps != fps:
                    m = resample(m, out_fps, fps)
                finished[r.key] = m[: num_frames[r.entry]]  # lengths were rounded up to length_multiple
            _write_cache(cache_dir, header, finished)
            done.update(finished)
            bar.update(len(batch))
    bar.close()
    return {r: done[r.key] for r in requests}


def _cache_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode("utf-8")).hexdigest()


def _read_cache(cache_dir, header: str) -> dict[str, np.ndarray]:
    if cache_dir is None or not Path(cache_dir).is_dir():
        return {}
    done = {}
    for path in sorted(Path(cache_dir).glob("batch-*.npz")):
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["header"]) != header:
                    continue
                keys, lengths, frames = data["keys"], data["lengths"], data["frames"]
        except (OSError, KeyError, ValueError) as e:
            logger.warning("Ignoring unreadable generation cache file %s (%s)", path, e)
            continue
        offset = 0
        for key, n in zip(keys, lengths):
            done[str(key)] = frames[offset : offset + int(n)]
            offset += int(n)
    if done:
        logger.info("Resuming: %d generations read from %s", len(done), cache_dir)
    return done


def _write_cache(cache_dir, header: str, finished: dict[str, np.ndarray]) -> None:
    """One batch's motions as ``batch-<header>-<first key hash>.npz``, written atomically."""
    if cache_dir is None or not finished:
        return
    keys = sorted(finished)
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"batch-{header[:12]}-{_cache_key(keys)[:12]}.npz"
    with atomic_path(folder / name) as tmp:  # ends in .npz, so np.savez keeps the name
        np.savez(
            tmp,
            header=np.array(header),
            keys=np.array(keys),
            lengths=np.array([len(finished[k]) for k in keys], dtype=np.int64),
            frames=np.concatenate([finished[k] for k in keys]).astype(np.float32),
        )
