"""Live Link Face over UDP: the packet encoder, a real-time sender, and an interactive prompt session.

Names are imported on first use, like :mod:`pipelines` itself (the sender needs numpy only; the session
loads torch and a pipeline when it starts).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "PacketEncoder": "packet", "encode_packet": "packet", "UNREAL_CHANNEL_ORDER": "packet",
    "LiveLinkSender": "sender", "StreamTargetError": "sender", "parse_address": "sender",
    "InteractiveSession": "session", "PromptRecord": "session", "stream_prompt": "session",
    "IdleFace": "idle", "FaceTimeline": "timeline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipelines.streaming' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
