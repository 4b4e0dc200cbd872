"""A prompt's stages: "She smiles, then frowns, and finally looks up" -> one sentence per stage, in time order.

People write sequences with many connectives ("and then", "after that", "followed by", "before", "first ...
finally", separate sentences); the MDM generates a whole clip from one sentence and loses the order of two or
three stages more often than it keeps it.  :func:`split_prompt_stages` finds the stages by English grammar alone
(sequencing connectives, sentence breaks, "before" / "after" reversing the order), knows no action names, and
returns each stage as a sentence with its subject ("and then raises her brows" -> "She raises her brows").
Simultaneous wording ("while", "as", "at the same time", a bare "and") is never split.
:func:`stage_windows` lays the stages out over a clip: one window each, in order, overlapping so that the
pipeline can blend one into the next, and :class:`StageBlend` does that blending in the first denoising steps,
which lay the motion out in time (:func:`stage_steps`); the steps after them denoise the whole clip with the
whole prompt, which joins the stages the way the corpus's takes do (``Express4DPipeline(..., prompt_stages="auto")``
and the light sampler of ``express4d generate``).
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

PROMPT_STAGES = ("auto", "off")
"""``prompt_stages`` values: ``"auto"`` generates a prompt of several stages ("X, then Y, and finally Z") one window
per stage, blended; ``"off"`` generates every prompt as one sentence."""
STAGE_OVERLAP_SECONDS = 0.5
"""How far each stage's window reaches into its neighbours' (the blend between two stages takes twice this)."""
MIN_STAGE_SECONDS = 1.0
"""A prompt whose stages would each get less than this is generated as one sentence."""
UNTIMED_STAGE_SECONDS = 1.75
"""How long a stage that names no duration is expected to take (the stand-in corpus's attack + hold + release at
normal speed, midpoint).  A stage that names its seconds ("for about two seconds") takes those; the clip is
shared among its stages in proportion to these plus :data:`STAGE_GAP_SECONDS` each (:func:`stage_seconds`)."""
STAGE_GAP_SECONDS = 0.3
"""The rest expected after each stage (the stand-in corpus's pauses between actions: 0.1-0.45 s)."""
STAGE_STEPS_SHARE = 0.5
"""The share of the denoising steps (the first ones) that denoise stage windows; the rest denoise the whole clip
with the whole prompt (the second free-wording MDM against stage windows at every step: paper protocol FID 1.432 ->
1.301, three steps in order 0.888 -> 0.906, order 0.942 -> 0.943; docs/free_wording.md)."""

# "X <connective> Y": Y comes after X ...
_FORWARD = (
    r"(?:and\s+)?(?:a\s+(?:moment|second|beat|little|bit|few\s+seconds)\s+later|(?:moments|seconds)\s+later)",
    r"(?:and\s+)?(?:soon|shortly|right|immediately|just)\s+after(?:wards?|\s+that|\s+this)?"
    r"(?=[\s,]+(?:he|she|they|someone|the|a|an|his|her|their)\b)",
    r"(?:and\s+)?(?:once|when)\s+(?:that|this|it)(?:'s|\s+is|\s+has)?\s+"
    r"(?:done|over|finished|gone|passed|passes|faded|fades|ended|ends)",
    r"and\s+then", r"then", r"and\s+after\s+that", r"after\s+that", r"and\s+afterwards?", r"afterwards?",
    r"and\s+next", r"next", r"and\s+finally", r"finally", r"and\s+lastly", r"lastly", r"and\s+at\s+last", r"at\s+last",
    r"and\s+eventually", r"eventually", r"and\s+last(?!\s+(?:for|long|until|about))", r"and\s+later", r"later",
    r"and\s+subsequently", r"subsequently",
    r"after\s+which", r"and\s+once\s+that(?:'s|\s+is)\s+(?:done|over)", r"once\s+that(?:'s|\s+is)\s+(?:done|over)",
    r"and\s+to\s+finish", r"to\s+finish", r"and\s+in\s+the\s+end", r"in\s+the\s+end",
    r"followed\s+by", r"before\s+(?:moving|going)\s+on\s+to", r"before",
    r"and\s+(?:ends?|ended|ending|finish(?:es|ed|ing)?)\s+(?=(?:by|with)\b)", r"and\s+(?:ends?|ended|ending)\s+up",
)
# ... or before it ("X after Y-ing": Y first).
_BACKWARD = (r"after",)

_CONNECTIVE = re.compile(r"(?:,\s*|\s+)(?P<word>" + "|".join(_FORWARD + _BACKWARD) + r")\b,?\s*", re.IGNORECASE)
_LEAD_GERUND = re.compile(  # "After shutting her eyes she blows ...": the main clause starts at its subject
    r"^([Bb]efore|[Aa]fter)\s+(\w+ing\b[^,]*?)\s+"
    r"(?=(?:he|she|they|someone|somebody|(?:a|the)\s+(?:person|man|woman)|[A-Z][a-z]+\s+\w+s)\b)(.+)$"
)
_LEAD_CLAUSE = re.compile(r"^(before|after)\s+(?!(?:that|this|which|a\s+while|a\s+moment)\b)(.+?),\s*(.+)$", re.IGNORECASE)
_LEADING = re.compile(  # a stage's own sequencing words, dropped once the order is known
    r"^(?:(?:and|so)\s+)?(?:first(?:ly)?|at\s+first|to\s+(?:start|begin)|then|next|finally|lastly|at\s+last|afterwards?|"
    r"after\s+that|eventually|later|subsequently|in\s+the\s+end|to\s+(?:finish|end|close)|last(?:ly)?)\b,?\s*",
    re.IGNORECASE,
)
_START_END = re.compile(  # "starts by smiling" -> "smiling"
    r"\b(?:starts?|started|starting|begins?|began|beginning|ends?|ended|ending|finish(?:es|ed|ing)?)\s+(?:by|with)\s+",
    re.IGNORECASE,
)
_GO_ON = re.compile(r"\b(?:goes|go|went|going|moves|move|moved|moving|proceeds?|proceeded)\s+on\s+to\s+", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.;!?])\s+|(?<=[;])")
_SUBJECT = re.compile(
    r"^(?:(?:a|an|the)\s+(?:\w+\s+)?(?:person|woman|man|girl|boy|actor|actress|performer|character|face|kid|child|"
    r"lady|guy|speaker|subject)|someone|somebody|he|she|they|i|we|you)\b",
    re.IGNORECASE,
)
_POSSESSIVE_SUBJECT = {"his": "He", "her": "She", "their": "They", "my": "I", "our": "We", "your": "You"}
_STARTS_A_CLAUSE = re.compile(r"^(?:his|her|their|its|my|our|your|the|a|an)\b", re.IGNORECASE)
_LIST_VERB = re.compile(r"^(?:\w+ly\s+)?(?!(?:as|is|was|its|this|thus|always|perhaps|his|yes|twice)\b)[a-z]+(?:s|ed|ing)\b",
                        re.IGNORECASE)


def split_prompt_stages(prompt: str) -> list[str]:
    """The stages of ``prompt`` in time order, each a sentence of its own; ``[prompt]`` when it has one stage.

    >>> split_prompt_stages("A person smiles and then raises their eyebrows")
    ['A person smiles', 'A person raises their eyebrows']
    >>> split_prompt_stages("Before frowning, she looks up")
    ['She looks up', 'She is frowning']
    """
    text = " ".join(str(prompt).split())
    if not text:
        return [prompt]
    stages: list[str] = []
    for sentence in _SENTENCES.split(text):
        sentence = sentence.strip(" .;!?")
        if sentence:
            stages += _split_sentence(sentence)
    stages = [s for s in (_LEADING.sub("", s).strip(" ,") for s in stages) if s]
    if len(stages) < 2:
        return [prompt]
    subject = next((s for s in map(_subject_of, stages) if s), "A person")
    return [_with_subject(s, subject) for s in stages]


def _split_sentence(sentence: str) -> list[str]:
    lead = _LEAD_GERUND.match(sentence) or _LEAD_CLAUSE.match(sentence)
    if lead:  # "Before Y, X" -> X, Y;  "After Y, X" -> Y, X
        first, second = (lead[3], lead[2]) if lead[1].lower() == "before" else (lead[2], lead[3])
        return _split_sentence(first) + _split_sentence(second)
    match = _CONNECTIVE.search(sentence)
    if match is None:
        return [sentence]
    head, tail = sentence[: match.start()].strip(" ,"), sentence[match.end():].strip(" ,")
    if not head or not tail:
        return [sentence]
    word = " ".join(match["word"].lower().split())
    if word == "after" and not re.match(r"^(?:\w+ly\s+)?\w+ing\b", tail, re.IGNORECASE):
        return [sentence]  # "after" as in "looks after her", not a stage
    heads = _split_list(head) if "," in head else [head]
    rest = _split_sentence(tail)
    if word in _BACKWARD:
        return rest + heads
    return heads + rest


def _split_list(head: str) -> list[str]:
    """"She smiles, frowns" (the start of "..., frowns, and then looks up") -> two stages; other commas stay."""
    parts = [p.strip() for p in head.split(",")]
    if all(_LIST_VERB.match(p) for p in parts[1:]):
        return parts
    return [head]


def _subject_of(stage: str) -> str | None:
    match = _SUBJECT.match(stage)
    if match:
        subject = match[0]
        return subject[0].upper() + subject[1:]
    first = stage.split()[0]
    if first.lower() in _POSSESSIVE_SUBJECT:
        return _POSSESSIVE_SUBJECT[first.lower()]
    if first[0].isupper() and len(stage.split()) > 1:  # (sequencing words were stripped before)
        second = stage.split()[1].lower()
        if re.match(r"^[a-z]+(?:s|ed)$", second) or second in ("is", "was", "starts", "makes", "gives"):
            return first  # a name: "Maria smiles"
    return None


def _plural(subject: str) -> bool:
    return subject.lower() in ("they", "we", "you", "i")


def _be(subject: str) -> str:
    return "am" if subject.lower() == "i" else "are" if _plural(subject) else "is"


def _start_end_verb(subject: str):
    """What replaces "starts by" / "ends with" after a subject: "is" before a gerund ("starts by smiling" -> "is
    smiling"), "shows" before a noun ("ends with a frown" -> "shows a frown")."""

    def replace(match: re.Match) -> str:
        if match.start() == 0:
            return ""  # no subject before it: _with_subject adds one
        verb = next((w for w in match.string[match.end():].split() if not w.lower().endswith("ly")), "")
        if verb.lower().endswith("ing"):
            return _be(subject) + " "
        return ("show " if _plural(subject) else "shows ") if match[0].lower().rstrip().endswith("with") else ""

    return replace


def _with_subject(stage: str, subject: str) -> str:
    """``stage`` as a sentence of its own: ``subject`` put first unless it has one ("frowning" -> "She is frowning")."""
    stage = _GO_ON.sub("", _START_END.sub(_start_end_verb(subject), stage)).strip()
    joined = re.match(r"^(by|with)\s+(.+)$", stage, re.IGNORECASE)  # the end of "... and ends by/with ..."
    if joined:
        stage = joined[2] if joined[1].lower() == "by" else f"{'show' if _plural(subject) else 'shows'} {joined[2]}"
    if _SUBJECT.match(stage) or _STARTS_A_CLAUSE.match(stage) or stage.split()[0] == subject.split()[0]:
        return stage[0].upper() + stage[1:]
    verb = next((w for w in stage.split() if not w.lower().endswith("ly")), "")
    if verb.lower().endswith("ing") and verb.lower() not in ("bring", "sing", "ring", "swing", "sling"):
        stage = f"{_be(subject)} {stage}"
    return f"{subject} {stage[0].lower()}{stage[1:]}"


_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, "a couple of": 2, "a few": 3, "half a": 0.5}
_NAMED_SECONDS = re.compile(
    r"\bfor\s+(?:about|around|roughly|approximately|nearly|almost|maybe|some|a\s+good|a\s+full|just|only)?\s*"
    r"(?P<n>\d+(?:\.\d+)?|" + "|".join(k.replace(" ", r"\s+") for k in sorted(_NUMBERS, key=len, reverse=True)) +
    r")\s+(?:full\s+|whole\s+|long\s+)?seconds?\b", re.IGNORECASE)


def stage_seconds(stage: str) -> float:
    """How long ``stage`` is expected to take, in seconds: what it names ("for about two seconds", "for 3 seconds",
    "for half a second"), else :data:`UNTIMED_STAGE_SECONDS`.  Speed words ("briefly", "slowly") are left to the model.

        >>> stage_seconds("She frowns for about three seconds"), stage_seconds("She smiles briefly")
        (3.0, 1.75)
    """
    named = _NAMED_SECONDS.search(stage)
    if not named:
        return UNTIMED_STAGE_SECONDS
    n = re.sub(r"\s+", " ", named.group("n").lower())
    return float(_NUMBERS[n]) if n in _NUMBERS else float(n)


def stage_windows(num_frames: int, num_stages: int, overlap: int, weights=None,
                  min_frames: int = 0) -> list[tuple[int, int, np.ndarray]]:
    """Split ``num_frames`` among ``num_stages`` stages: ``[(start, end, weights)]``, one window per stage.

    Each stage gets ``min_frames`` and a share of the rest in proportion to its ``weights`` (equal shares when
    None; :class:`StageBlend` passes each stage's :func:`stage_seconds` + :data:`STAGE_GAP_SECONDS`).
    Each window reaches ``overlap`` frames into its neighbours; ``weights`` (``end - start`` values) are 1 inside
    and ramp linearly across the shared frames, so that at every frame the weights of the windows covering it sum
    to 1 and a blend of the stages' predictions changes from one to the next over ``2 * overlap`` frames.
    """
    if num_stages < 1 or num_frames < num_stages:
        raise ValueError(f"stage_windows: cannot split {num_frames} frames into {num_stages} stages")
    if overlap < 0:
        raise ValueError(f"stage_windows: overlap must be >= 0, got {overlap}")
    if num_frames < num_stages * min_frames:
        raise ValueError(f"stage_windows: {num_frames} frames cannot give {num_stages} stages {min_frames} frames each")
    share = np.ones(num_stages) if weights is None else np.asarray(weights, dtype=np.float64)
    if share.shape != (num_stages,) or not np.all(share > 0):
        raise ValueError(f"stage_windows: expected {num_stages} positive weights, got {weights!r}")
    ends = np.cumsum(min_frames + (num_frames - num_stages * min_frames) * share / share.sum())
    bounds = [0] + [int(round(e)) for e in ends[:-1]] + [num_frames]
    windows = []
    for k in range(num_stages):
        start = bounds[k] - overlap if k > 0 else 0
        end = bounds[k + 1] + overlap if k < num_stages - 1 else num_frames
        start, end = max(0, start), min(num_frames, end)
        frames = np.arange(start, end) + 0.5
        weight = np.ones(end - start)
        if k > 0 and overlap:  # ramp up across [bounds[k] - overlap, bounds[k] + overlap)
            weight = np.minimum(weight, np.clip((frames - (bounds[k] - overlap)) / (2 * overlap), 0, 1))
        if k < num_stages - 1 and overlap:  # ramp down across [bounds[k+1] - overlap, bounds[k+1] + overlap)
            weight = np.minimum(weight, np.clip(((bounds[k + 1] + overlap) - frames) / (2 * overlap), 0, 1))
        windows.append((start, end, weight.astype(np.float32)))
    return windows


def stage_steps(num_inference_steps: int) -> int:
    """How many of ``num_inference_steps`` denoising steps, the first ones, denoise stage windows:
    :data:`STAGE_STEPS_SHARE` of them, rounded up, at least one."""
    return max(1, math.ceil(STAGE_STEPS_SHARE * int(num_inference_steps) - 1e-9))


def stage_layout() -> tuple:
    """The constants that lay stages out and schedule them, as one value: generations made under other ones are other
    generations (the benchmark's generation cache keys on it)."""
    return (STAGE_OVERLAP_SECONDS, STAGE_STEPS_SHARE, UNTIMED_STAGE_SECONDS, STAGE_GAP_SECONDS, MIN_STAGE_SECONDS)


def check_prompt_stages(value, name: str = "prompt_stages") -> str:
    """``value`` if it is one of :data:`PROMPT_STAGES`, else raise naming ``name``."""
    if value not in PROMPT_STAGES:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, PROMPT_STAGES))} (\"auto\" generates \"X, then Y\" one "
                         f"stage after the other), got {value!r}")
    return value


def plan_prompt_stages(prompts: list[str], num_frames: list[int], fps: float) -> list[list[str]] | None:
    """The texts ``prompt_stages="auto"`` generates for each prompt at its length (native frames): its
    :func:`split_prompt_stages`, or ``[prompt]`` when it has one stage or its stages would each get under
    :data:`MIN_STAGE_SECONDS`; None when no prompt has two stages (the prompts are generated whole)."""
    out = []
    for text, frames in zip(prompts, num_frames):
        stages = split_prompt_stages(text)
        out.append(stages if len(stages) > 1 and frames / len(stages) >= MIN_STAGE_SECONDS * fps else [text])
    return out if any(len(s) > 1 for s in out) else None


class StageBlend:
    """The stage windows of a batch of motions, denoised as one batch of clips and blended back.

    ``stages``: each prompt's texts (:func:`plan_prompt_stages`).  The texts to encode are :meth:`texts`: every
    prompt's stage texts, prompt by prompt, then the whole prompt of each staged one; :attr:`owners` gives each
    text's prompt, :attr:`rows` each window's text row and :attr:`whole_rows` each motion's whole-prompt row (a
    one-stage prompt's only text).  Motions are grouped prompt by prompt, ``num_per_prompt`` each, with ``lengths``
    native frames.  In the first :func:`stage_steps` steps :meth:`crop` cuts each window's frames out of
    ``[B, T, C]`` latents (zeros past its end; :attr:`mask` marks its frames), and :meth:`blend` averages the
    windows' predictions back into ``[B, T, C]`` with :func:`stage_windows`' weights (MultiDiffusion over time,
    Bar-Tal et al. 2023); the later steps see the whole clip with :attr:`whole_rows`' texts.
    """

    def __init__(self, stages: list[list[str]], lengths: list[int], num_per_prompt: int, fps: float, num_frames: int,
                 device=None, dtype=torch.float32):
        first_row = np.cumsum([0] + [len(s) for s in stages])
        self._stages = [list(s) for s in stages]
        self._staged = [p for p, s in enumerate(stages) if len(s) > 1]  # their whole prompts follow all stage texts
        whole_row = {p: int(first_row[p]) for p in range(len(stages))}
        whole_row.update({p: int(first_row[-1]) + k for k, p in enumerate(self._staged)})
        self.owners = [p for p, s in enumerate(stages) for _ in s] + self._staged
        self.whole_rows = torch.tensor([whole_row[m // num_per_prompt] for m in range(len(lengths))], device=device)
        overlap, min_frames = int(round(STAGE_OVERLAP_SECONDS * fps)), int(MIN_STAGE_SECONDS * fps)
        seconds = [[stage_seconds(t) + STAGE_GAP_SECONDS for t in s] for s in stages]
        windows = []  # (motion, text row, start, end, weights)
        for motion, length in enumerate(lengths):
            prompt = motion // num_per_prompt
            layout = stage_windows(length, len(stages[prompt]), overlap, seconds[prompt],
                                   min(min_frames, length // len(stages[prompt])))
            for k, (start, end, weights) in enumerate(layout):
                windows.append((motion, int(first_row[prompt]) + k, start, end, weights))
        width = max(end - start for _, _, start, end, _ in windows)
        self.batch, self.num_frames = len(lengths), int(num_frames)
        self.rows = torch.tensor([row for _, row, _, _, _ in windows], device=device)
        self.mask = torch.zeros(len(windows), width, dtype=torch.bool, device=device)
        weight = torch.zeros(len(windows), width, 1, dtype=dtype, device=device)
        frame = torch.zeros(len(windows), width, dtype=torch.long, device=device)
        for j, (motion, _, start, end, w) in enumerate(windows):
            self.mask[j, : end - start] = True
            weight[j, : end - start, 0] = torch.from_numpy(w).to(device=device, dtype=dtype)
            frame[j, : end - start] = motion * self.num_frames + torch.arange(start, end, device=device)
        self._weight = weight
        self._index = frame.reshape(-1)  # window frame -> row of the [B * T, C] motions
        total = torch.zeros(self.batch * self.num_frames, 1, dtype=dtype, device=device)
        total.index_add_(0, self._index, weight.reshape(-1, 1))
        self._total = total.clamp_min(1e-12)

    def texts(self, prompts: list[str]) -> list[str]:
        """The texts to encode, in row order: the stage texts, then the whole ``prompts`` of the staged ones."""
        return [t for s in self._stages for t in s] + [prompts[p] for p in self._staged]

    def crop(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, T, C]`` -> ``[W, width, C]``: each window's frames (zeros past its end)."""
        flat = latents.reshape(-1, latents.shape[-1])[self._index]
        return flat.reshape(len(self.mask), self.mask.shape[1], -1) * self.mask[..., None]

    def blend(self, x0: torch.Tensor) -> torch.Tensor:
        """``[W, width, C]`` window predictions -> ``[B, T, C]``, weighted by the windows' ramps."""
        out = torch.zeros(self.batch * self.num_frames, x0.shape[-1], dtype=x0.dtype, device=x0.device)
        out.index_add_(0, self._index, (x0 * self._weight.to(x0.dtype)).reshape(-1, x0.shape[-1]))
        return (out / self._total.to(x0.dtype)).reshape(self.batch, self.num_frames, -1)
