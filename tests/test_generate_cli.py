"""`express4d generate` end to end with tiny saved pipelines of both kinds."""

import numpy as np
import pytest
from PIL import Image

from express4d_dataset.livelink import read_livelink_csv
from pipelines.commands.generate import PREVIEW_FPS
from pipelines.preview import preview_frame_indices


@pytest.fixture(scope="module")
def saved_pipelines(tmp_path_factory):
    from mdm_tiny import tiny_pipeline, tiny_t2m_gpt

    root = tmp_path_factory.mktemp("pipes")
    tiny_pipeline(root / "bert_mdm").save_pretrained(root / "mdm")
    tiny_t2m_gpt(root / "bert_gpt").save_pretrained(root / "t2m_gpt")
    return root


@pytest.mark.parametrize("kind", ["mdm", "t2m_gpt"])
def test_generate_writes_csv_gif_png(saved_pipelines, tmp_path, capsys, kind):
    from pipelines.cli import main

    out = tmp_path / "out"
    argv = ["generate", "A person is smiling softly", "The person blinks", "--model", str(saved_pipelines / kind),
            "--seconds", "1", "--num", "2", "--out", str(out), "--no-mp4", "--size", "64"]
    if kind == "mdm":
        argv += ["--steps", "2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    csvs = sorted(out.glob("*.csv"))
    assert len(csvs) == 4  # 2 prompts x 2 motions
    for csv in csvs:
        assert str(csv) in printed
        take = read_livelink_csv(csv)
        assert take.fps == 60  # the animation-tool rate
        # 1 s at the native 20 fps = 20 frames, interpolated to 60 fps: still 1 s, 60 frames
        assert take.num_frames == 60
        assert (take.frames[:, :52] >= 0).all() and (take.frames[:, :52] <= 1).all()  # valid blendshape weights
        assert np.isfinite(take.frames).all()
        gif = csv.with_suffix(".gif")
        with Image.open(gif) as im:
            assert im.n_frames == len(preview_frame_indices(take.num_frames, 60, PREVIEW_FPS))
        assert csv.with_name(csv.stem + "_curves.png").is_file()
    assert "preview GIF" in printed and "channel curves" in printed


def test_generate_is_seeded(saved_pipelines, tmp_path):
    from pipelines.cli import main

    for name in ("a", "b"):
        main(["generate", "A person frowns", "--model", str(saved_pipelines / "mdm"), "--seconds", "1", "--steps", "2",
              "--seed", "7", "--out", str(tmp_path / name), "--no-mp4", "--size", "32"])
    a, b = (read_livelink_csv(next((tmp_path / n).glob("*.csv"))).frames for n in ("a", "b"))
    np.testing.assert_array_equal(a, b)


def test_generate_prompts_file_and_errors(saved_pipelines, tmp_path, capsys, monkeypatch):
    import pipelines.cli as cli

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("A person winks\n\nA person nods\n")
    assert cli.main(["generate", "--prompts-file", str(prompts), "--model", str(saved_pipelines / "t2m_gpt"),
                     "--seconds", "1", "--out", str(tmp_path / "o"), "--no-mp4", "--size", "32"]) == 0
    assert len(list((tmp_path / "o").glob("*.csv"))) == 2
    capsys.readouterr()

    assert cli.main(["generate", "--model", str(saved_pipelines / "mdm")]) == 2
    assert "give at least one PROMPT" in capsys.readouterr().err
    assert cli.main(["generate", "x", "--prompts-file", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt not found" in capsys.readouterr().err
    import pipelines.auto_pipeline as auto_pipeline  # where DEFAULT_MODELS_DIR lives (pipelines.loading re-exports it)

    monkeypatch.setattr(auto_pipeline, "DEFAULT_MODELS_DIR", tmp_path / "no_models")
    assert cli.main(["generate", "A person smiles", "--model", "mdm"]) == 2
    err = capsys.readouterr().err
    assert "--model mdm: the bundled default model 'mdm' is not in this installation" in err
    assert "or pass --model FOLDER|HUB_ID" in err
    assert cli.main(["evaluate", "--model", str(saved_pipelines / "mdm")]) == 2  # default --evaluator is bundled too
    assert "--evaluator evaluator: the bundled default model 'evaluator' is not in this installation" in capsys.readouterr().err


def test_generate_prompt_stages(saved_pipelines, tmp_path, capsys):
    """--prompt-stages reaches the MDM (auto and off give other motions for a staged prompt; a whole one is the
    same) and is refused, before anything is generated, for T2M-GPT."""
    from pipelines.cli import main

    def frames(prompt, mode):
        out = tmp_path / f"{mode}-{len(prompt)}"
        assert main(["generate", prompt, "--model", str(saved_pipelines / "mdm"), "--seconds", "2", "--steps", "2",
                     "--prompt-stages", mode, "--out", str(out), "--no-mp4", "--size", "32"]) == 0
        return read_livelink_csv(next(out.glob("*.csv"))).frames

    staged = "A person smiles, then frowns"
    assert not np.allclose(frames(staged, "auto"), frames(staged, "off"), atol=1e-3)
    np.testing.assert_array_equal(frames("A person frowns", "auto"), frames("A person frowns", "off"))
    capsys.readouterr()
    assert main(["generate", staged, "--model", str(saved_pipelines / "t2m_gpt"), "--prompt-stages", "auto",
                 "--out", str(tmp_path / "gpt")]) == 2
    assert "--prompt-stages: T2M-GPT" in capsys.readouterr().err and not list((tmp_path / "gpt").glob("*.csv"))
