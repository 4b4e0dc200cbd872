"""Draw docs/preview_3d.png, the README's picture of the 3D preview: python docs/make_preview_3d.py"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from express4d_dataset.arkit import NUM_CHANNELS, channel_index
from pipelines.preview import render_head_frame
from pipelines.preview.fonts import font

SIZE = 256
PANELS = (  # (caption, camera, channels)
    ("rest", "three-quarter", {}),
    ("MouthSmile 1", "three-quarter", {"MouthSmileLeft": 1.0, "MouthSmileRight": 1.0, "CheekSquintLeft": 0.4, "CheekSquintRight": 0.4}),
    ("JawOpen 0.7", "three-quarter", {"JawOpen": 0.7}),
    ("BrowInnerUp + BrowOuterUp + EyeWide", "three-quarter",
     {"BrowInnerUp": 1.0, "BrowOuterUpLeft": 1.0, "BrowOuterUpRight": 1.0, "EyeWideLeft": 0.6, "EyeWideRight": 0.6}),
    ("EyeBlinkLeft 1 (front)", "front", {"EyeBlinkLeft": 1.0}),
    ("HeadYaw 0.4, eyes yaw -0.3 (front)", "front", {"HeadYaw": 0.4, "LeftEyeYaw": -0.3, "RightEyeYaw": -0.3}),
    ("MouthPucker 1 (side)", "side", {"MouthPucker": 1.0}),
    ("MouthFrown + BrowDown (front)", "front",
     {"MouthFrownLeft": 1.0, "MouthFrownRight": 1.0, "BrowDownLeft": 1.0, "BrowDownRight": 1.0}),
)


def main() -> None:
    cols, rows, cap = 4, 2, 26
    sheet = Image.new("RGB", (cols * SIZE, rows * (SIZE + cap)), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    for k, (caption, camera, channels) in enumerate(PANELS):
        frame = np.zeros(NUM_CHANNELS, dtype=np.float32)
        for name, value in channels.items():
            frame[channel_index(name)] = value
        x, y = (k % cols) * SIZE, (k // cols) * (SIZE + cap)
        sheet.paste(render_head_frame(frame, size=SIZE, camera=camera), (x, y))
        d.text((x + 8, y + SIZE + 5), caption, fill=(60, 64, 72), font=font(13))
    out = Path(__file__).with_name("preview_3d.png")
    sheet.save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
