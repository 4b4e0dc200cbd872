"""Hugging Face Space entry: the express4d browser demo (``pipelines/commands/demo.py``).

A Space runs ``python app.py``; locally, ``express4d demo`` serves the same app.  Host and port
come from ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (Spaces set them).
"""

from pipelines.commands.demo import build_demo, launch

demo = build_demo()

if __name__ == "__main__":
    launch(demo=demo)
