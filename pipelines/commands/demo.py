"""``express4d demo``: the browser demo, a Gradio app (also behind a Hugging Face Space's ``app.py``).

Inputs: a prompt, the model (``mdm``, ``t2m_gpt`` or a pipeline folder), seconds, seed and
sampling steps.  Outputs: the 3D preview (an MP4 when ``ffmpeg`` is on ``PATH``, else the
GIF), the channel-curve plot, an interactive 3D view of the GLB, and the Live Link Face CSV and
GLB as downloads.  Bad inputs (an empty or too long prompt, an unknown model) show as messages
in the page (``gr.Error`` / ``gr.Warning``), never as tracebacks.

Gradio is imported only when the app is built (``pip install 'express4d[demo]'``), so the rest
of the package never needs it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

from ..auto_pipeline import BUNDLED_GENERATORS

logger = logging.getLogger(__name__)

__all__ = ["MAX_PROMPT_CHARS", "MAX_SECONDS", "MIN_SECONDS", "add_parser", "build_demo", "generate", "launch"]

MAX_PROMPT_CHARS = 300
MIN_SECONDS, MAX_SECONDS = 1.0, 9.8  # the benchmark's 196 frames at 20 fps
EXAMPLES = (
    "A person is smiling and then raising their eyebrows",
    "The person blinks twice and then opens their mouth wide",
    "A person frowns while looking to the left",
)

_pipes: dict[str, object] = {}
_pipes_lock = threading.Lock()


class DemoInputError(ValueError):
    """A request the demo refuses, with the message the page shows."""


def _check_request(prompt: str, seconds: float, seed, steps) -> tuple[str, float, int, int | None]:
    text = (prompt or "").strip()
    if not text:
        raise DemoInputError('Type a prompt first, e.g. "A person is smiling and then raising their eyebrows".')
    if len(text) > MAX_PROMPT_CHARS:
        raise DemoInputError(f"The prompt is {len(text)} characters long; keep it under {MAX_PROMPT_CHARS}.")
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise DemoInputError(f"Seconds must be a number between {MIN_SECONDS:g} and {MAX_SECONDS:g}.") from None
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise DemoInputError(f"Seconds must be between {MIN_SECONDS:g} and {MAX_SECONDS:g}, got {seconds:g}.")
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise DemoInputError("The seed must be a whole number.") from None
    if seed < 0:
        raise DemoInputError("The seed must be 0 or more.")
    if steps is not None:
        steps = int(steps)
        if steps < 1:
            raise DemoInputError("Steps must be at least 1.")
    return text, seconds, seed, steps


def _pipeline(model: str):
    """The pipeline a ``model`` value names, loaded once per process."""
    from pipelines.auto_pipeline import load_motion_pipeline, resolve_model_path

    try:
        path = resolve_model_path((model or "").strip() or "mdm", "model")
    except FileNotFoundError as e:
        raise DemoInputError(f"Unknown model: {e}") from None
    with _pipes_lock:
        if path not in _pipes:
            pipe = load_motion_pipeline(path)
            pipe.set_progress_bar_config(disable=True)
            _pipes[path] = pipe
        return _pipes[path]


def generate(prompt: str, model: str = "mdm", seconds: float = 6.0, seed: int = 0, steps: int | None = 20,
             out_dir: str | os.PathLike | None = None, warn=None) -> dict[str, Path]:  # fmt: skip
    """Generate one motion and write what the page shows; returns the paths by kind.

    Kinds: ``csv`` (Live Link Face, 60 fps), ``gif`` and, with ``ffmpeg``, ``mp4`` (3D preview),
    ``png`` (channel curves), ``glb`` (3D head + animation).  ``warn(message)`` receives notes for
    the page (e.g. that a model has no steps).  Raises :class:`DemoInputError` for a bad request.
    """
    import torch

    from pipelines.pipeline_output import safe_file_stem
    from pipelines.preview import export_csv, ffmpeg_available, render_csv

    text, seconds, seed, steps = _check_request(prompt, seconds, seed, steps)
    pipe = _pipeline(model)
    supports_steps = "num_inference_steps" in pipe.supports
    if steps is not None and not supports_steps and warn is not None:
        warn(f"{pipe.describe()} has no sampling steps; the steps setting is ignored.")
    try:
        out = pipe(
            text, seconds=seconds, generator=torch.Generator().manual_seed(seed), output_fps=60,
            num_inference_steps=steps if supports_steps else None,
        )
    except ValueError as e:  # the shared request checks: their messages are for people
        raise DemoInputError(str(e)) from None
    root = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="express4d_demo_"))
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{safe_file_stem(text, 32)}_", dir=root))
    csv_path = Path(out.save_livelink_csv(folder / f"{safe_file_stem(text)}.csv")[0])
    files = render_csv(csv_path, out_dir=folder, mp4=ffmpeg_available(), preview="3d")
    files["glb"] = export_csv(csv_path, out_dir=folder, format="glb")
    files["csv"] = csv_path
    logger.info("demo: %r -> %s", text, folder)
    return files


def build_demo(default_model: str = "mdm", out_dir: str | os.PathLike | None = None):
    """The Gradio ``Blocks`` app (not launched)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio as gr
    except ImportError as e:
        raise ImportError(f"the browser demo needs Gradio: pip install 'express4d[demo]' ({e})") from e

    from pipelines.preview import ffmpeg_available

    root = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="express4d_demo_"))
    root.mkdir(parents=True, exist_ok=True)
    has_mp4 = ffmpeg_available()

    def run(prompt, model, seconds, seed, steps):
        try:
            files = generate(prompt, model, seconds, seed, steps, out_dir=root, warn=gr.Warning)
        except DemoInputError as e:
            raise gr.Error(str(e)) from None
        except Exception as e:  # noqa: BLE001 - the page shows a message, the log keeps the traceback
            logger.exception("demo: generation failed")
            raise gr.Error(f"Generation failed: {type(e).__name__}: {e}") from None
        preview = str(files.get("mp4", files["gif"]))
        return (
            preview if has_mp4 else None,
            None if has_mp4 else preview,
            str(files["png"]),
            str(files["glb"]),
            str(files["csv"]),
            str(files["glb"]),
        )

    choices = list(BUNDLED_GENERATORS) + ([default_model] if default_model not in BUNDLED_GENERATORS else [])
    with gr.Blocks(title="express4d: text to facial motion", analytics_enabled=False) as demo:
        gr.Markdown(
            "# express4d: text to facial motion\n"
            "Type what the face does; get 61 ARKit channels at 60 fps (a Live Link Face CSV for Unreal or Blender), "
            "a 3D preview, the channel curves and a GLB for three.js / Blender. The bundled models learned a "
            "procedural stand-in corpus. Head: ICT-FaceKit (USC ICT, MIT licence)."
        )
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(label="Prompt", placeholder=EXAMPLES[0], lines=2, max_lines=4, elem_id="prompt")
                with gr.Row():
                    model = gr.Dropdown(choices, value=default_model, allow_custom_value=True, label="Model",
                                        info="mdm, t2m_gpt or a pipeline folder", elem_id="model")  # fmt: skip
                    seconds = gr.Slider(MIN_SECONDS, MAX_SECONDS, value=6.0, step=0.2, label="Seconds", elem_id="seconds")
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", elem_id="seed")
                    steps = gr.Slider(1, 50, value=20, step=1, label="Steps (MDM)", elem_id="steps")
                button = gr.Button("Generate", variant="primary", elem_id="generate")
                gr.Examples([[e] for e in EXAMPLES], inputs=[prompt])
            with gr.Column(scale=3):
                video = gr.Video(label="3D preview", visible=has_mp4, autoplay=True, loop=True, elem_id="preview_video")
                gif = gr.Image(label="3D preview", type="filepath", visible=not has_mp4, elem_id="preview_gif")
                curves = gr.Image(label="Channel curves", type="filepath", elem_id="curves")
        with gr.Row():
            model3d = gr.Model3D(label="3D view (GLB: drag to turn)", clear_color=(0.92, 0.93, 0.95, 1.0),
                                 elem_id="model3d")  # fmt: skip
            with gr.Column():
                csv_file = gr.File(label="Live Link Face CSV (Unreal, Blender)", elem_id="csv_file")
                glb_file = gr.File(label="GLB (three.js, Blender, any glTF viewer)", elem_id="glb_file")
        outputs = [video, gif, curves, model3d, csv_file, glb_file]
        inputs = [prompt, model, seconds, seed, steps]
        button.click(run, inputs=inputs, outputs=outputs, api_name="generate")
        prompt.submit(run, inputs=inputs, outputs=outputs)
    demo.queue(default_concurrency_limit=1)
    demo.express4d_out_dir = root  # where the files go (allowed for serving by launch())
    return demo


def launch(host: str | None = None, port: int | None = None, default_model: str = "mdm",
           out_dir: str | os.PathLike | None = None, demo=None, **kwargs):  # fmt: skip
    """Serve the app (``demo``, or one built with ``default_model`` / ``out_dir``); blocks.
    ``host`` / ``port`` default to Gradio's (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``, as
    on Hugging Face Spaces)."""
    if demo is None:
        demo = build_demo(default_model=default_model, out_dir=out_dir)
    return demo.launch(server_name=host, server_port=port, allowed_paths=[str(demo.express4d_out_dir)],
                       show_error=False, ssr_mode=False, **kwargs)  # fmt: skip


# --------------------------------------------------------------------------------------------- the command
def add_parser(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="start the browser demo (Gradio): prompt in, 3D preview, curves, interactive GLB and downloads out",
        description="Serve the Gradio app of pipelines/commands/demo.py (the same app a Hugging Face Space runs from "
        "app.py). Needs the demo extra: pip install 'express4d[demo]'.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a LAN)")
    demo.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    demo.add_argument("--model", default="mdm", help="the model chosen when the page opens: mdm | t2m_gpt | a folder (default: mdm)")
    demo.add_argument("--out", default=None, metavar="DIR", help="where generated files go (default: a temporary folder)")
    demo.set_defaults(func=run)


def run(args) -> int:
    try:
        launch(host=args.host, port=args.port, default_model=args.model, out_dir=args.out)
    except ImportError as e:  # no gradio: say how to get it
        raise ValueError(str(e)) from None
    return 0
