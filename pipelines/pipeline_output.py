"""``Express4DPipelineOutput``, the one output of both express4d pipelines, and how motions reach it.

:func:`~pipelines.motion_files.finalize_motions` turns a model's normalised batch into the motions a caller gets (trimmed,
denormalised, clipped to valid ranges, resampled); :meth:`Express4DPipelineOutput.save_livelink_csv`
writes them as Live Link Face CSVs that Unreal's and Blender's importers read, and
:meth:`Express4DPipelineOutput.save_glb` as GLBs on the shipped 3D head.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffusers.utils import BaseOutput

from .motion_files import MotionFiles, _write_csv_atomic, finalize_motions, next_free_index, safe_file_stem  # noqa: F401 (their old home)


@dataclass
class Express4DPipelineOutput(MotionFiles, BaseOutput):
    """Output of the express4d text-to-motion pipelines.

    Args:
        motions: one ``[T, 61]`` denormalised motion per generated sample (numpy float32 arrays
            for ``output_type="np"``, torch tensors for ``"pt"``), channels in Live Link Face order,
            ordered prompt by prompt (``num_motions_per_prompt`` consecutive samples each).
        fps: frame rate of ``motions``.
        captions: the prompt of each motion.
    """

    motions: list
    fps: float
    captions: list
