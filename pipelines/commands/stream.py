"""``express4d stream``: a face live in Unreal over Live Link (Live Link Face UDP packets, one per frame).

Three sources: a prompt (generated, then streamed), a Live Link Face CSV (played back at its rate), or
``--interactive`` (a warm model reads prompts from stdin, one per line; the face idles between them and each
motion starts from the current pose).  The engine is :mod:`pipelines.streaming`.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import sys
from pathlib import Path

from .arguments import add_untracked_arguments

MAX_SEED = 2**63 - 1


def add_parser(sub) -> None:
    st = sub.add_parser(
        "stream",
        help="stream facial animation into Unreal's Live Link (Live Link Face packets over UDP): a prompt, a CSV, "
        "or prompts typed one per line (--interactive)",
        description="Send one Live Link Face packet per frame (the ARKit face packet of Epic's Live Link Face app), in "
        "real time, to --target.  In Unreal, with the Live Link and Apple ARKit Face Support plugins enabled, the subject "
        "(--subject) appears in Window > Virtual Production > Live Link once packets arrive on UDP 11111.",
    )
    st.add_argument("prompt", nargs="?", default=None, metavar="PROMPT", help='e.g. "A person is smiling softly"')
    st.add_argument("--csv", default=None, metavar="FILE.csv", help="play back a Live Link Face CSV take instead")
    st.add_argument("--interactive", action="store_true",
                    help="read prompts from stdin, one per line; the face idles between them (Ctrl-C or end of input stops)")
    st.add_argument("--model", default="mdm", help="mdm | t2m_gpt (bundled defaults) or a pipeline folder / Hub id (default: mdm)")
    st.add_argument("--seconds", type=float, default=6.0, help="length of each prompt's motion (default 6)")
    st.add_argument("--seed", type=int, default=0, help="seed; prompt k of --interactive uses seed + k (default 0)")
    st.add_argument("--steps", type=int, default=None, help="denoising steps (MDM only; default: the model's, 20)")
    st.add_argument("--target", default="127.0.0.1:11111", metavar="HOST:PORT",
                    help="where Unreal runs (default 127.0.0.1:11111, Live Link Face's port)")
    st.add_argument("--subject", default="Express4D", help="Live Link subject name shown in Unreal (default Express4D)")
    st.add_argument("--device-id", default="express4d", help="device id in each packet (default express4d)")
    st.add_argument("--fps", type=float, default=None,
                    help="stream frame rate (default 60; with --csv: the take's own rate)")
    st.add_argument("--loop", action="store_true", help="repeat the CSV (or the prompt's motion) until Ctrl-C")
    st.add_argument("--no-draft", action="store_true",
                    help="--interactive with the MDM: one full generation per prompt instead of a 5-step draft that "
                    "plays at once and the full one taking over (slower to start: about the generation time)")
    add_untracked_arguments(st)
    st.set_defaults(func=run)


def _check(args) -> str:
    """The mode (``prompt``, ``csv``, ``interactive``) after every cheap check, before any heavy import."""
    given = [name for name, on in (("PROMPT", args.prompt is not None), ("--csv", args.csv is not None),
                                   ("--interactive", args.interactive)) if on]
    if len(given) != 1:
        raise ValueError('give one of PROMPT, --csv FILE.csv or --interactive (e.g. express4d stream "A person is smiling '
                         'softly")' + (f"; got {' and '.join(given)}" if given else ""))
    if args.prompt is not None and not args.prompt.strip():
        raise ValueError('empty PROMPT: describe the expression, e.g. "A person is smiling softly"')
    if args.fps is not None and not (math.isfinite(args.fps) and 1 <= args.fps <= 240):
        raise ValueError(f"--fps must be between 1 and 240, got {args.fps:g}")
    if not (math.isfinite(args.seconds) and args.seconds > 0):
        raise ValueError(f"--seconds must be positive, got {args.seconds:g}")
    if not 0 <= args.seed <= MAX_SEED - 10**6:
        raise ValueError(f"--seed must be between 0 and 2**63 - 1 (minus a million prompts), got {args.seed}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    if args.loop and args.interactive:
        raise ValueError("--loop repeats a CSV or a prompt's motion; --interactive streams until Ctrl-C anyway")
    if args.csv is not None:
        path = Path(args.csv)
        if path.is_dir():
            raise ValueError(f"--csv {path}: a folder; pass a Live Link Face CSV file")
        if not path.is_file():
            raise FileNotFoundError(f"--csv {path} not found")
    return "prompt" if args.prompt is not None else "csv" if args.csv is not None else "interactive"


def run(args) -> int:
    from pipelines.streaming.sender import LiveLinkSender, parse_address

    mode = _check(args)
    parse_address(args.target, "--target")
    take = None
    if mode == "csv":
        from express4d_dataset.livelink import read_livelink_csv

        take = read_livelink_csv(args.csv, untracked=args.untracked, max_untracked_gap=args.max_untracked_gap)
    fps = args.fps if args.fps is not None else take.fps if take is not None else 60.0
    try:
        sender = LiveLinkSender(args.target, subject=args.subject, device_id=args.device_id, fps=fps)
    except ValueError as e:  # target, subject and device id are command-line options here
        raise ValueError(str(e).replace("target ", "--target ", 1).replace("subject name", "--subject", 1)
                         .replace("device id", "--device-id", 1)) from None
    where = f"{sender.target} as subject {args.subject!r} at {fps:g} fps"
    with sender:
        try:
            if mode == "csv":
                print(f"Streaming {args.csv} ({take.num_frames} frames at {take.fps:g} fps, {take.duration:.1f} s) to {where}"
                      + ("; looping, Ctrl-C stops" if args.loop else ""))
                sent = sender.play(take, loop=args.loop)
                print(f"Sent {sent} packets.")
            else:
                with _no_progress_bars():
                    return (_stream_prompt if mode == "prompt" else _interactive)(args, sender, where)
        except KeyboardInterrupt:
            _ignore_further_interrupts()
            print(f"\nStopped after {sender.packets_sent} packets.")
            return 130
    return 0


def _ignore_further_interrupts() -> None:
    """After the first Ctrl-C the command is stopping: a second one must not break the clean-up with a traceback."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _no_progress_bars():
    """The stream's own lines only, on a terminal someone types into: no loading bars from diffusers / transformers."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers_logging.enable_progress_bar()
        transformers_logging.enable_progress_bar()


def _load(args):
    from pipelines.auto_pipeline import load_motion_pipeline, resolve_model_path

    pipe = load_motion_pipeline(resolve_model_path(args.model, "--model"))
    if args.steps is not None and "num_inference_steps" not in pipe.supports:
        raise ValueError(f"--steps: {pipe.describe()} has no denoising steps (only MDM models do); leave it out")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _stream_prompt(args, sender, where: str) -> int:
    import torch

    from .arguments import set_torch_threads_for_load

    set_torch_threads_for_load()
    pipe = _load(args)
    options = {} if args.steps is None else {"num_inference_steps": args.steps}
    out = pipe(args.prompt.strip(), seconds=args.seconds, generator=torch.Generator().manual_seed(args.seed),
               output_type="np", output_fps=sender.fps, **options)
    frames = len(out.motions[0])
    print(f"Streaming {args.prompt.strip()!r} ({frames} frames, {frames / sender.fps:.1f} s) to {where}"
          + ("; looping, Ctrl-C stops" if args.loop else ""))
    sent = sender.play(out, loop=args.loop)
    print(f"Sent {sent} packets.")
    return 0


def _interactive(args, sender, where: str) -> int:
    from pipelines.streaming.session import InteractiveSession

    pipe = _load(args)

    def report(record):
        if record.error is not None:
            print(f"express4d stream: {record.prompt!r} failed: {record.error}", file=sys.stderr, flush=True)
            return
        refine = "" if session.draft_steps is None else "; the full-step motion takes over about a second later"
        print(f"  {record.prompt!r}: generated in {record.generation_seconds:.2f} s, playing from frame "
              f"{record.start_frame}{refine}", flush=True)

    session = InteractiveSession(pipe, sender, seconds=args.seconds, seed=args.seed, num_inference_steps=args.steps,
                                 draft_steps=None if args.no_draft else 5, on_event=report)
    print(f"Warming up {pipe.describe()} ...", flush=True)
    interrupted = False
    try:
        session.start()
        print(f"Streaming to {where}: the face idles until a prompt comes.\n"
              "Type a prompt and Enter (one per line); Ctrl-C or end of input (Ctrl-D) stops.", flush=True)
        session.run(sys.stdin, on_error=lambda message: print(f"express4d stream: {message}", file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        _ignore_further_interrupts()
        interrupted = True
    finally:
        session.close()
    latencies = [r.latency for r in session.records if r.latency is not None]
    gaps = session.gaps()
    summary = f"{len(session.packet_times)} packets"
    if len(gaps):
        summary += f", largest gap {1000 * gaps.max():.0f} ms"
    if latencies:
        summary += (f"; {len(latencies)} prompt(s), first packet {statistics.median(latencies):.2f} s after Enter "
                    f"(median; max {max(latencies):.2f} s)")
    print(("\nStopped: " if interrupted else "Done: ") + summary + ".")
    if session.error is not None:
        raise ConnectionError(f"the stream to {sender.target} stopped: {session.error}")
    return 130 if interrupted else 0


__all__ = ["add_parser", "run"]
