"""``express4d demo``: the browser demo, a Gradio app (also behind a Hugging Face Space's ``app.py``).

Inputs: a prompt, a model from the list the operator chose at start-up, seconds, seed and sampling
steps.  Outputs: the 3D preview (an MP4 when ``ffmpeg`` is on ``PATH``, else the GIF), the
channel-curve plot, an interactive 3D view of the GLB, and the Live Link Face CSV and GLB as
downloads.  Bad inputs (an empty or too long prompt, a model not on the list, a seed or length out of
range) show as messages in the page (``gr.Error`` / ``gr.Warning``), never as tracebacks.

What a web page can reach, and nothing more:

* the models of :class:`ModelList`, fixed when the app is built (``--model``, repeatable; default: the
  bundled ``mdm`` and ``t2m_gpt``).  A request names one by its listed name; any other value (a path,
  a Hub id, another spelling) is refused by that name alone, before anything on disk or on the Hub is
  looked at, so the answer never tells whether a path exists.  At most :data:`MAX_LOADED_MODELS` are
  held in memory at once (least recently used dropped);
* the files the app wrote, in a folder of its own (:func:`output_root`: a new folder inside ``--out``,
  or a temporary one), which is the only folder served besides Gradio's own cache.

Gradio is imported only when the app is built (``pip install 'express4d[demo]'``), so the rest
of the package never needs it.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

from ..auto_pipeline import BUNDLED_GENERATORS

logger = logging.getLogger(__name__)

__all__ = ["MAX_LOADED_MODELS", "MAX_PROMPT_CHARS", "MAX_SECONDS", "MIN_SECONDS", "ModelList", "add_parser", "build_demo",
           "generate", "launch", "output_root"]

MAX_PROMPT_CHARS = 300
MIN_SECONDS, MAX_SECONDS = 1.0, 9.8  # the benchmark's 196 frames at 20 fps
MAX_SEED = 2**63 - 1
MAX_STEPS = 1000
MAX_LOADED_MODELS = 2
"""Pipelines a demo holds in memory at once; another listed model replaces the least recently used."""
EXAMPLES = (
    "A person is smiling and then raising their eyebrows",
    "The person sticks their tongue out, then frowns",
    "She smiles, then raises her eyebrows, and finally opens her mouth wide",
)

class DemoInputError(ValueError):
    """A request the demo refuses, with the message the page shows."""


def _check_request(prompt: str, seconds: float, seed, steps) -> tuple[str, float, int, int | None]:
    text = (prompt or "").strip() if isinstance(prompt, str) or prompt is None else None
    if text is None:
        raise DemoInputError("The prompt must be text.")
    if not text:
        raise DemoInputError('Type a prompt first, e.g. "A person is smiling and then raising their eyebrows".')
    if len(text) > MAX_PROMPT_CHARS:
        raise DemoInputError(f"The prompt is {len(text)} characters long; keep it under {MAX_PROMPT_CHARS}.")
    try:
        seconds = float(seconds)
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if not math.isfinite(seconds):
        raise DemoInputError(f"Seconds must be a number between {MIN_SECONDS:g} and {MAX_SECONDS:g}.")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise DemoInputError(f"Seconds must be between {MIN_SECONDS:g} and {MAX_SECONDS:g}, got {seconds:g}.")
    seed = _whole_number(seed, "The seed", 0, MAX_SEED, "2**63 - 1")
    if steps is not None:
        steps = _whole_number(steps, "Steps", 1, MAX_STEPS, str(MAX_STEPS))
    return text, seconds, seed, steps


def _whole_number(value, what: str, low: int, high: int, high_text: str) -> int:
    """``value`` as an int in ``[low, high]`` (a float only when whole), or a message naming ``what``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        whole = value if isinstance(value, int) else int(float(value)) if float(value) == int(float(value)) else None
    except (TypeError, ValueError, OverflowError):  # not a number, NaN, infinite
        whole = None
    if whole is None:
        raise DemoInputError(f"{what} must be a whole number between {low} and {high_text}.")
    if whole < low:
        raise DemoInputError(f"{what} must be {low} or more.")
    if whole > high:
        raise DemoInputError(f"{what} must be at most {high_text}.")
    return int(whole)


class ModelList:
    """The models a demo offers, fixed by its operator when the app is built: listed name -> model.

    ``models``: ``mdm`` / ``t2m_gpt`` (bundled), pipeline folders or Hub ids, resolved once here (a wrong
    entry fails at start-up, naming it).  A folder is listed by its name, a Hub id as written.  Requests
    name a model by its listed name only (:meth:`pipeline`); pipelines load on first use, at most
    :data:`MAX_LOADED_MODELS` at a time.
    """

    def __init__(self, models: Sequence[str] = BUNDLED_GENERATORS):
        from pipelines.auto_pipeline import resolve_model_path

        if isinstance(models, str):
            models = [models]
        self.sources: dict[str, str] = {}
        self.listed_as: dict[str, str] = {}
        """What the operator wrote -> the listed name."""
        for model in models:
            source = resolve_model_path(model, "--model")
            text = str(model).strip()
            same = [n for n, s in self.sources.items() if s == source]
            if same:
                self.listed_as[text] = same[0]
                continue
            name = text if text in BUNDLED_GENERATORS or not Path(source).is_dir() else Path(source).resolve().name
            base, k = name, 2
            while name in self.sources:
                name, k = f"{base} ({k})", k + 1
            self.sources[name] = source
            self.listed_as[text] = name
        if not self.sources:
            raise ValueError("--model: the demo needs at least one model to offer")
        self._loaded: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def check(self, name) -> str:
        """``name`` when it is on the list; otherwise a :class:`DemoInputError` (nothing is looked up)."""
        if isinstance(name, str) and name in self.sources:
            return name
        shown = repr(name)[:60] if isinstance(name, str) else type(name).__name__
        raise DemoInputError(f"Unknown model {shown}; this demo offers {', '.join(self.sources)}.")

    def pipeline(self, name):
        """The listed model's pipeline (loaded once; the least recently used dropped beyond the limit)."""
        from pipelines.auto_pipeline import load_motion_pipeline

        name = self.check(name)
        with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
            while len(self._loaded) >= MAX_LOADED_MODELS:
                dropped, _ = self._loaded.popitem(last=False)
                logger.info("demo: unloaded %s (at most %d models in memory)", dropped, MAX_LOADED_MODELS)
            pipe = load_motion_pipeline(self.sources[name])
            pipe.set_progress_bar_config(disable=True)
            self._loaded[name] = pipe
            return pipe


_DEFAULT_MODELS: ModelList | None = None


def _default_models() -> ModelList:
    global _DEFAULT_MODELS
    if _DEFAULT_MODELS is None:
        _DEFAULT_MODELS = ModelList(BUNDLED_GENERATORS)
    return _DEFAULT_MODELS


def output_root(out_dir: str | os.PathLike | None = None) -> Path:
    """A new folder that only the demo writes into: ``<out_dir>/express4d-demo-<time>-<random>`` (with the
    umask's permissions), or a private temporary folder without ``out_dir``.  The app serves this folder
    alone, never the rest of ``out_dir``."""
    if out_dir is None:
        return Path(tempfile.mkdtemp(prefix="express4d_demo_")).resolve()
    parent = Path(out_dir)
    if parent.exists() and not parent.is_dir():
        raise FileExistsError(f"--out {parent}: a file, not a folder; pass a folder")
    parent.mkdir(parents=True, exist_ok=True)
    from express4d_dataset.output_folder import new_folder

    return new_folder(parent, f"express4d-demo-{time.strftime('%Y%m%d-%H%M%S')}-", "a folder for the demo's files").resolve()


def _request_folder(root: Path, text: str) -> Path:
    from express4d_dataset.output_folder import new_folder
    from pipelines.pipeline_output import safe_file_stem

    return new_folder(root, f"{safe_file_stem(text, 32)}_", "a folder for a request")


def generate(prompt: str, model: str = "mdm", seconds: float = 6.0, seed: int = 0, steps: int | None = 20,
             out_dir: str | os.PathLike | None = None, warn=None, models: ModelList | None = None) -> dict[str, Path]:  # fmt: skip
    """Generate one motion and write what the page shows; returns the paths by kind.

    Kinds: ``csv`` (Live Link Face, 60 fps), ``gif`` and, with ``ffmpeg``, ``mp4`` (3D preview),
    ``png`` (channel curves), ``glb`` (3D head + animation).  ``model``: a name on ``models`` (default: the
    bundled ``mdm`` and ``t2m_gpt``).  Files go to a new folder inside ``out_dir`` (which the caller made
    with :func:`output_root`; default: a temporary folder).  ``warn(message)`` receives notes for the page
    (e.g. that a model has no steps).  Raises :class:`DemoInputError` for a bad request.
    """
    import torch

    from pipelines.pipeline_output import safe_file_stem
    from pipelines.preview import export_csv, ffmpeg_available, render_csv

    models = models if models is not None else _default_models()
    models.check(model)  # before anything else: a value not on the list reaches nothing
    text, seconds, seed, steps = _check_request(prompt, seconds, seed, steps)
    pipe = models.pipeline(model)
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
    root = Path(out_dir) if out_dir is not None else output_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = _request_folder(root, text)
    csv_path = Path(out.save_livelink_csv(folder / f"{safe_file_stem(text)}.csv")[0])
    files = render_csv(csv_path, out_dir=folder, mp4=ffmpeg_available(), preview="3d")
    files["glb"] = export_csv(csv_path, out_dir=folder, format="glb")
    files["csv"] = csv_path
    logger.info("demo: %r -> %s", text, folder)
    return files


def build_demo(default_model: str | None = None, out_dir: str | os.PathLike | None = None,
               models: Sequence[str] | ModelList | None = None):
    """The Gradio ``Blocks`` app (not launched).

    ``models``: what the page offers (names, folders or Hub ids; default: ``mdm`` and ``t2m_gpt``, plus
    ``default_model`` when it is not among them); ``default_model``: the one chosen when the page opens
    (default: the first).  ``out_dir``: where the app makes its own folder (:func:`output_root`)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio as gr
    except ImportError as e:
        raise ImportError(f"the browser demo needs Gradio: pip install 'express4d[demo]' ({e})") from e

    from pipelines.preview import ffmpeg_available

    if not isinstance(models, ModelList):
        wanted = list(models) if models is not None else list(BUNDLED_GENERATORS)
        if default_model is not None and default_model not in wanted:
            wanted.append(default_model)
        models = ModelList(wanted)
    default_name = models.listed_as.get(str(default_model).strip(), models.names[0])
    root = output_root(out_dir)
    has_mp4 = ffmpeg_available()
    logger.info("demo: offering %s; files in %s", ", ".join(models.names), root)

    def run(prompt, model, seconds, seed, steps):
        try:
            files = generate(prompt, model, seconds, seed, steps, out_dir=root, warn=gr.Warning, models=models)
        except DemoInputError as e:
            raise gr.Error(str(e)) from None
        except Exception as e:  # noqa: BLE001 - the page shows a message, the log keeps the traceback
            logger.exception("demo: generation failed")  # the details (paths, ...) stay in the server's log
            raise gr.Error(f"Generation failed ({type(e).__name__}); the server's log has the details.") from None
        preview = str(files.get("mp4", files["gif"]))
        return (
            preview if has_mp4 else None,
            None if has_mp4 else preview,
            str(files["png"]),
            str(files["glb"]),
            str(files["csv"]),
            str(files["glb"]),
        )

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
                    model = gr.Dropdown(models.names, value=default_name, allow_custom_value=False, label="Model",
                                        info="the models this demo offers", elem_id="model")  # fmt: skip
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
    demo.express4d_out_dir = root  # the app's own folder: the only one launch() lets Gradio serve
    demo.express4d_models = models
    return demo


def launch(host: str | None = None, port: int | None = None, default_model: str | None = None,
           out_dir: str | os.PathLike | None = None, demo=None, models: Sequence[str] | None = None, **kwargs):  # fmt: skip
    """Serve the app (``demo``, or one built with ``models`` / ``default_model`` / ``out_dir``); blocks unless
    ``prevent_thread_lock=True``.  ``host`` / ``port`` default to Gradio's (``GRADIO_SERVER_NAME`` /
    ``GRADIO_SERVER_PORT``, as on Hugging Face Spaces).  Only the app's own folder is served."""
    if demo is None:
        demo = build_demo(default_model=default_model, out_dir=out_dir, models=models)
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
    demo.add_argument("--model", action="append", default=None, metavar="MODEL",
                      help="a model the page offers: mdm | t2m_gpt | a pipeline folder | a Hub id (repeatable; the first "
                      "is chosen when the page opens; default: mdm and t2m_gpt). Web users choose from this list only")
    demo.add_argument("--out", default=None, metavar="DIR",
                      help="the app writes its files into a new folder inside DIR and serves that folder only "
                      "(default: a temporary folder)")
    demo.set_defaults(func=run)


def run(args) -> int:
    try:
        launch(host=args.host, port=args.port, models=args.model, out_dir=args.out)
    except ImportError as e:  # no gradio: say how to get it
        raise ValueError(str(e)) from None
    return 0
