"""benchmarks/own_words.py: its two sets of hand-written sentences, how it scores a motion, and its table."""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.own_words import SECOND_SENTENCES, SENTENCES, follows, leak, main  # noqa: E402
from express4d_dataset.synthetic.actions import ACTIONS  # noqa: E402
from express4d_metrics.prompt_following import action_channels  # noqa: E402


def test_sentences_name_known_actions_and_the_sets_do_not_overlap():
    for sentence, keys in SENTENCES + SECOND_SENTENCES:
        assert len(keys) in (2, 3) and len(set(keys)) == len(keys), sentence
        assert all(k in ACTIONS for k in keys), (sentence, keys)
    assert not {s for s, _ in SENTENCES} & {s for s, _ in SECOND_SENTENCES}
    assert sum(len(k) == 3 for _, k in SECOND_SENTENCES) == 4 and len(SECOND_SENTENCES) == 16


def test_follows_needs_every_action_in_the_named_order():
    motion = np.zeros((120, 61), dtype=np.float32)
    for key, (start, stop) in (("smile", (10, 30)), ("raise_brows", (70, 90))):
        for channel, sign in action_channels(key):
            motion[start:stop, channel] += (sign or 1.0) * 0.8
    assert follows(motion, ("smile", "raise_brows"))[0]
    assert not follows(motion, ("raise_brows", "smile"))[0]
    ok, times = follows(motion, ("smile", "raise_brows", "open_mouth"))
    assert not ok and times[2] is None


def test_leak_is_the_share_of_a_stage_where_another_action_shows():
    motion = np.zeros((120, 61), dtype=np.float32)  # 6 s at 20 fps: stages 0-60 and 60-120, cores 10-50 and 70-110
    for key, (start, stop) in (("smile", (0, 60)), ("raise_brows", (60, 120))):
        for channel, sign in action_channels(key):
            motion[start:stop, channel] += (sign or 1.0) * 0.8
    assert leak(motion, ("smile", "raise_brows")) == 0.0
    for channel, sign in action_channels("smile"):  # the smile held through the second stage's first half of its core
        motion[60:90, channel] += (sign or 1.0) * 0.8
    assert leak(motion, ("smile", "raise_brows")) == (0.0 + 20 / 40) / 2


def test_table_has_one_row_per_model_setting_and_set(tmp_path, capsys):
    from mdm_tiny import tiny_pipeline

    pipe = tiny_pipeline(tmp_path / "bert")
    pipe.set_sampler("dpm++")  # 20 steps, not DDPM's 1000
    pipe.save_pretrained(tmp_path / "mdm")
    assert main(["--model", str(tmp_path / "mdm"), "--seeds", "1", "--seconds", "2", "--set", "second",
                 "--prompt-stages", "off", "--prompt-stages", "auto"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {tmp_path / 'mdm'}")]
    assert [r.split("|")[1].strip().rsplit("=", 1)[1] for r in rows] == ["off", "auto"]
    assert all(r.split("|")[2].strip() == "second" and "/12 |" in r and "/16 |" in r for r in rows)
    assert all(0 <= float(r.split("|")[6]) <= 1 for r in rows)
