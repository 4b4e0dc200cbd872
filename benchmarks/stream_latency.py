"""Interactive Live Link streaming: first-packet latency, packet gaps and seams, with the bundled model.

Starts an ``InteractiveSession`` (the engine of ``express4d stream --interactive``) on a warm pipeline,
streaming to a UDP socket this script opens on 127.0.0.1 (it counts what arrives), submits prompts one
after another every ``--interval`` seconds (each interrupting the last, as a person typing would), lets
the last one play out and prints:

* per prompt: generation times (draft, full), where its motion began (late = after the planned frame),
  and the **latency**: submission to the packet of the first frame of the prompt's own motion;
* the stream: packets sent / received, the largest gap between two packets;
* seams: the largest expression change per 30 fps frame within 0.1 s of each seam (the draft's start, the
  refined motion's take-over) and how many are over 0.2: the naturalness table's figure
  (:mod:`express4d_dataset.naturalness`), whose row for the whole stream is printed beside the real Live Link
  Face captures' (``../shared/fixtures/livelink``).

    python benchmarks/stream_latency.py                      # bundled MDM, 6 prompts, 3 s apart
    python benchmarks/stream_latency.py --no-draft           # one full generation per prompt instead
    python benchmarks/stream_latency.py --model t2m_gpt

The machine's load average is printed too: on a shared CPU, latency follows what else runs.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

PROMPTS = (
    "A person is smiling softly and then raising their eyebrows",
    "A person frowns",
    "A person opens their mouth wide in surprise",
    "A person winks with the left eye and then smiles",
    "A person puffs their cheeks",
    "A person looks to the left and then nods",
)
REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "livelink"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mdm", help="mdm | t2m_gpt | FOLDER (default: mdm)")
    parser.add_argument("--prompts", type=int, default=6, help="prompts in a row (default 6)")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between prompts (default 3)")
    parser.add_argument("--seconds", type=float, default=6.0, help="motion length (default 6)")
    parser.add_argument("--no-draft", action="store_true", help="one full generation per prompt, no fast draft")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, the session's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from pipelines import load_motion_pipeline
    from pipelines.auto_pipeline import resolve_model_path
    from express4d_dataset.naturalness import naturalness, naturalness_markdown
    from pipelines.streaming.seams import seam_changes
    from pipelines.streaming.sender import LiveLinkSender
    from pipelines.streaming.session import InteractiveSession

    pipe = load_motion_pipeline(resolve_model_path(args.model, "--model"))
    pipe.set_progress_bar_config(disable=True)

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.2)
    received = []
    done = threading.Event()

    def receive():
        while not done.is_set():
            try:
                received.append(receiver.recv(2048))
            except socket.timeout:
                continue

    threading.Thread(target=receive, daemon=True).start()
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.prompts)]
    with LiveLinkSender(f"127.0.0.1:{receiver.getsockname()[1]}") as sender:
        session = InteractiveSession(pipe, sender, seconds=args.seconds, seed=args.seed, num_threads=args.threads,
                                     draft_steps=None if args.no_draft else 5)
        started = time.monotonic()
        session.start()
        warm = time.monotonic() - started
        time.sleep(1.0)
        for prompt in prompts:
            session.submit(prompt)
            time.sleep(args.interval)
        session.finish(timeout=args.seconds + 10)
    time.sleep(0.3)
    done.set()

    indices, frames = session.history()
    records = session.records
    first = int(indices[0])
    drafts = seam_changes(frames, sender.fps, [r.start_frame for r in records], first_index=first)
    refines = seam_changes(frames, sender.fps, [r.refined_frame for r in records if r.refined_frame is not None],
                           first_index=first)
    rows = [naturalness([(frames, sender.fps)], name=f"this stream ({len(frames) / sender.fps:.0f} s)")]
    references = sorted(glob.glob(str(REFERENCE_DIR / "*.csv")))
    if references:
        rows.append(naturalness([_reference(p) for p in references], name=f"real captures ({len(references)} takes)"))

    print(f"\n{pipe.describe()}, {args.seconds:g} s motions, {'one full generation' if args.no_draft else 'draft (5 steps) then full'}"
          f", {args.threads} torch thread(s); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"warm-up {warm:.1f} s\n")
    print("| # | prompt | draft / generation s | full s | starts at | latency s |")
    print("|---:|---|---:|---:|---|---:|")
    for r in records:
        full = "" if r.refine_seconds is None else f"{r.refine_seconds:.2f}"
        where = f"frame {r.start_frame}" + (" (late)" if r.late else "")
        latency = "replaced before it began" if r.latency is None else f"{r.latency:.3f}"
        generation = "" if r.generation_seconds is None else f"{r.generation_seconds:.2f}"
        print(f"| {r.index} | {r.prompt} | {generation} | {full} | {where} | {latency} |")
    latencies = [r.latency for r in records if r.latency is not None]
    gaps = session.gaps()
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| first-packet latency, median of {len(latencies)} prompts | {statistics.median(latencies):.3f} s |")
    print(f"| first-packet latency, max | {max(latencies):.3f} s |")
    print(f"| packets sent / received | {len(session.packet_times)} / {len(received)} |")
    print(f"| largest gap between packets | {1000 * gaps.max():.1f} ms (period {1000 / sender.fps:.1f} ms) |")
    for label, seams in (("motion starts", drafts), ("refined take-overs", refines)):
        if seams:
            worst = max(seams, key=lambda s: s.change)
            print(f"| seams, {label} ({len(seams)}): largest expression change per 30 fps frame | "
                  f"{worst.change:.3f} ({worst.channel}) |")
            print(f"| seams, {label}: changes over 0.2 | {sum(s.jump for s in seams)} |")
    print()
    print(naturalness_markdown(rows))
    print(f"\ncommand: python {' '.join(sys.argv)}")


def _reference(path):
    """A real take as ``(frames, fps)`` with lost-tracking rows as NaN gaps, as the naturalness table reads it."""
    from express4d_dataset.realism import read_reference_take

    take = read_reference_take(path)
    return take.frames, take.fps


if __name__ == "__main__":
    main()
