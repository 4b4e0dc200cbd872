"""The browser demo (`express4d demo`, pipelines/demo.py) driven in a real headless Chromium with Playwright.

The test starts the app in a subprocess on 127.0.0.1 (a free port) with a tiny saved MDM pipeline, types a
prompt, presses Generate, waits for the 3D preview, downloads the CSV and re-imports it.  It needs Debian's
`chromium` (/usr/bin/chromium) and the Python packages `playwright` and `gradio` (the test extra); `.ci/run`
installs chromium.  Without them it skips with the reason, except under CI (CI=true), where it fails.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from express4d_dataset.arkit import NUM_CHANNELS
from express4d_dataset.livelink import read_livelink_csv

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _missing_or_fail(what: str) -> None:
    message = f"browser demo test cannot run: {what}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (.ci/run installs it; under CI this test must run)")
    pytest.skip(message)


def test_demo_refuses_bad_requests_with_messages():
    from pipelines.demo import MAX_PROMPT_CHARS, DemoInputError, _check_request

    with pytest.raises(DemoInputError, match="Type a prompt first"):
        _check_request("   ", 6, 0, 20)
    with pytest.raises(DemoInputError, match=f"keep it under {MAX_PROMPT_CHARS}"):
        _check_request("smile " * 100, 6, 0, 20)
    with pytest.raises(DemoInputError, match="Seconds must be between 1 and 9.8"):
        _check_request("A person smiles", 20, 0, 20)
    with pytest.raises(DemoInputError, match="seed must be 0 or more"):
        _check_request("A person smiles", 6, -1, 20)
    assert _check_request("  A person smiles ", 6, 3.0, None) == ("A person smiles", 6.0, 3, None)
    for seed, message in ((1e30, "seed must be at most 2\\*\\*63 - 1"), (float("nan"), "seed must be a whole number"),
                          (3.5, "seed must be a whole number"), ("1e400", "seed must be a whole number")):
        with pytest.raises(DemoInputError, match=message):
            _check_request("A person smiles", 6, seed, 20)
    for seconds in (float("nan"), float("inf"), "soon"):
        with pytest.raises(DemoInputError, match="Seconds must be a number between 1 and 9.8"):
            _check_request("A person smiles", seconds, 0, 20)


def test_cli_help_imports_no_gradio_or_torch():
    code = (
        "import sys, contextlib, io\n"
        "from pipelines.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('gradio', 'torch', 'playwright') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log_path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the demo exited with code {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the demo did not answer at {url} within {timeout:.0f} s:\n{log_path.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def demo_server(tmp_path):
    """`express4d demo` on a free port with a tiny saved MDM pipeline; yields its URL."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        _missing_or_fail("the Python package gradio is not installed (pip install -e '.[test]')")
    from mdm_tiny import tiny_pipeline

    tiny_pipeline(tmp_path / "bert").save_pretrained(tmp_path / "tiny_mdm")
    port = _free_port()
    log_path = tmp_path / "demo.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "demo", "--host", "127.0.0.1", "--port", str(port),
             "--model", str(tmp_path / "tiny_mdm"), "--out", str(tmp_path / "out")],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_server(url, proc, log_path)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


@pytest.fixture
def browser_page(tmp_path):
    if not os.path.exists(CHROMIUM):
        _missing_or_fail(f"{CHROMIUM} not found (Debian package chromium: apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_or_fail("the Python package playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True,
            accept_downloads=True, viewport={"width": 1280, "height": 1100},
        )  # fmt: skip
        try:
            page = context.new_page()
            page.set_default_timeout(120_000)
            yield page
        finally:
            context.close()


def _set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_demo_in_a_real_browser(demo_server, browser_page, tmp_path):
    url, log_path = demo_server
    page = browser_page
    page.goto(url, wait_until="load")

    # an empty prompt: a message in the page, no output
    page.locator("#generate").click()
    page.get_by_text("Type a prompt first").first.wait_for()
    assert page.locator("#preview_gif img, #preview_video video").count() == 0

    # a real request: 2 s, 2 steps, seed 3
    page.locator("#prompt textarea").fill("a person is smiling and then raises brows")
    _set_number(page, "seconds", 2)
    _set_number(page, "steps", 2)
    page.locator("#seed input").fill("3")
    page.locator("#generate").click()
    page.locator("#preview_gif img, #preview_video video").first.wait_for()
    page.locator("#curves img").wait_for()
    page.locator("#model3d canvas").first.wait_for()
    link = page.locator("#csv_file a[download]")
    link.wait_for()
    assert page.locator("#glb_file a[download]").get_attribute("download").endswith(".glb")
    page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)

    with page.expect_download() as info:
        link.click()
    csv_path = tmp_path / "downloaded.csv"
    info.value.save_as(csv_path)
    take = read_livelink_csv(csv_path)
    assert take.fps == 60 and take.frames.shape[1] == NUM_CHANNELS
    assert abs(take.num_frames / 60 - 2.0) < 0.1  # the 2 s asked for
    # messages, never tracebacks, in the page; the server's log holds only the refused request's gr.Error
    assert "Traceback" not in page.content()
    errors = [line for line in log_path.read_text(errors="replace").splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    assert all(line.startswith("gradio.exceptions.Error: 'Type a prompt first") for line in errors), errors


# ---------------------------------------------------------------------------------------------- the HTTP API
@pytest.fixture
def api_server(tmp_path):
    """The demo served in this process (so the test can watch it) with one listed model, its --out holding a
    user's private files; yields (url, demo, out)."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        _missing_or_fail("the Python package gradio is not installed (pip install -e '.[test]')")
    from mdm_tiny import tiny_pipeline

    from pipelines.commands.demo import build_demo, launch

    tiny_pipeline(tmp_path / "bert").save_pretrained(tmp_path / "tiny_mdm")
    out = tmp_path / "out"
    (out / ".ssh").mkdir(parents=True)
    (out / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    (out / "notes.txt").write_text("mine")
    demo = build_demo(models=[str(tmp_path / "tiny_mdm")], out_dir=out)
    port = _free_port()
    launch(demo=demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", demo, out
    finally:
        demo.close()


def _api(url: str, *data) -> tuple[str, object]:
    """POST one request to the demo's `generate` endpoint; ("complete", outputs) or ("error", message)."""
    import json

    request = urllib.request.Request(url + "gradio_api/call/generate", data=json.dumps({"data": list(data)}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(url + f"gradio_api/call/generate/{event_id}", timeout=300) as r:
        stream = r.read().decode()
    events = re.findall(r"^event: (\w+)\ndata: (.*)$", stream, flags=re.M)
    kind, payload = events[-1]
    payload = json.loads(payload)
    return kind, (payload.get("error") if kind == "error" and isinstance(payload, dict) else payload)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_demo_serves_only_the_files_it_wrote(api_server):
    import urllib.parse

    url, demo, out = api_server
    kind, outputs = _api(url, "a person smiles", "tiny_mdm", 1.0, 3, 2)
    assert kind == "complete", outputs
    served = [o["url"] for o in outputs if isinstance(o, dict) and o.get("url")]
    assert served and all(_status(u) == 200 for u in served)
    root = demo.express4d_out_dir
    assert root.parent == out.resolve() and [p.name for p in out.iterdir() if p.name.startswith("express4d-demo-")] == [root.name]
    written = sorted(p for p in root.rglob("*") if p.is_file())
    assert written and _status(url + "gradio_api/file=" + urllib.parse.quote(str(written[0]))) == 200
    for path in (out / ".ssh" / "id_rsa", out / "notes.txt", root / ".." / "notes.txt", root / ".." / ".ssh" / "id_rsa",
                 out.parent / "tiny_mdm" / "model_index.json", "/etc/passwd"):
        assert _status(url + "gradio_api/file=" + urllib.parse.quote(str(path))) == 403, path


def test_demo_offers_only_the_operators_models(api_server, monkeypatch):
    import os

    from pipelines import auto_pipeline

    url, demo, out = api_server
    tiny = out.parent / "tiny_mdm"
    spellings = [str(tiny), f"{tiny}/", f"{tiny}//", f"{out.parent}/./tiny_mdm", f"{out.parent}/../{out.parent.name}/tiny_mdm",
                 str(out.parent / "missing"), "/etc/shadow", "/etc/passwd", "/", "~/.ssh/id_rsa", "../tiny_mdm", "tiny_mdm/",
                 " tiny_mdm", "TINY_MDM", "mdm", "t2m_gpt", "evaluator", "someone/some-model", "hf://x/y", ""]
    assert len(set(spellings)) == 20
    looked_at, loaded = [], []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: looked_at.append(os.fspath(p) if not isinstance(p, int) else p)
                        or real_stat(p, *a, **k))
    real_resolve, real_load = auto_pipeline.resolve_model_path, auto_pipeline.load_motion_pipeline
    monkeypatch.setattr(auto_pipeline, "resolve_model_path", lambda *a, **k: looked_at.append(a[0]) or real_resolve(*a, **k))
    monkeypatch.setattr(auto_pipeline, "load_motion_pipeline", lambda *a, **k: loaded.append(a[0]) or real_load(*a, **k))
    answers = set()
    for spelling in spellings:  # the same answer whether the path exists, is a file, a folder, or a Hub id
        kind, message = _api(url, "a person smiles", spelling, 1.0, 0, 2)
        assert kind == "error", (spelling, message)
        if message is None:  # gradio 6.0.0 (the oldest supported) sends a refused choice without its text
            answers.add(None)
            continue
        assert "tiny_mdm" in message, (spelling, message)
        assert "not in the list of choices" in message or "this demo offers tiny_mdm" in message, message
        if spelling:
            answers.add(message.replace(repr(spelling)[:60], "X").replace(f": {spelling} is", ": X is"))
    assert len(answers) == 1, answers  # one answer, whatever the value names: nothing about the disk
    probes = {os.path.normpath(os.path.expanduser(s)) for s in spellings[:12] if s not in ("/", "")}
    assert loaded == [] and [p for p in looked_at if isinstance(p, str) and os.path.normpath(p) in probes] == []

    # the listed model loads once, whatever the number of requests; memory stays flat
    def rss_mb() -> float:
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("VmRSS")).split()[1]) / 1024

    assert _api(url, "a person smiles", "tiny_mdm", 1.0, 0, 2)[0] == "complete"
    before = rss_mb()
    for k, spelling in enumerate(spellings):
        _api(url, "a person smiles", "tiny_mdm" if k % 5 == 0 else spelling, 1.0, k, 2)
    assert loaded == [str(tiny)] and len(demo.express4d_models._loaded) == 1
    assert rss_mb() - before < 60


def test_demo_model_list_is_checked_by_name_alone(tmp_path, monkeypatch):
    import os

    from pipelines.commands.demo import DemoInputError, ModelList, generate

    models = ModelList(["mdm"])
    assert models.names == ["mdm"]
    monkeypatch.setattr(os, "stat", lambda *a, **k: pytest.fail(f"looked at the disk: {a}"))
    for value in ("/etc/shadow", "t2m_gpt", str(tmp_path), "org/name", None, 3):
        with pytest.raises(DemoInputError, match="this demo offers mdm"):
            generate("a person smiles", value, models=models)
    assert models._loaded == {}
