"""Make docs/demo.png: the browser demo with the bundled MDM, one prompt, in a real headless Chromium.

    python docs/make_demo_screenshot.py                       # the demo's third example prompt (three stages), 6 s, seed 0
    python docs/make_demo_screenshot.py --prompt "She beams, then raises her eyebrows" --seed 3 --out /tmp/demo.png

Needs Debian's chromium (/usr/bin/chromium) and the test extra (playwright, gradio). Starts
`express4d demo` on a free local port, types the prompt, waits for the preview and writes the page's picture
(temp file + rename). Look at it before committing: the face must do what the prompt says.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    from pipelines.commands.demo import EXAMPLES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default=EXAMPLES[2])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="mdm")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "demo.png")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait after the 3D view appears, for the GLB to be drawn (default 2; more on a "
                        "busy machine, where the 3D view may otherwise be blank)")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} not found: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "demo", "--host", "127.0.0.1", "--port", str(port),
                                 "--model", args.model, "--out", tmp], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 180
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=5):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit("the demo did not start")
                    time.sleep(0.5)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                page.set_default_timeout(300_000)
                page.goto(url, wait_until="load")
                page.locator("#prompt textarea").fill(args.prompt)
                for elem, value in (("seconds", args.seconds),):
                    box = page.locator(f"#{elem} input[type=number]")
                    box.fill(str(value))
                    box.press("Enter")
                page.locator("#seed input").fill(str(args.seed))
                page.locator("#generate").click()
                page.locator("#preview_gif img, #preview_video video").first.wait_for()
                page.locator("#curves img").wait_for()
                page.locator("#model3d canvas").first.wait_for()
                time.sleep(args.settle)
                tmp_png = args.out.with_name(f".{args.out.stem}.tmp.png")
                page.screenshot(path=str(tmp_png), full_page=True)
                os.replace(tmp_png, args.out)
                browser.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
