# Our stub of the micropython-camera-API driver (cnadler86/micropython-camera-API): the part the
# adapter (cam.py) uses. Not in micropython-esp32-stubs, since the driver is a user C module.
from typing import Any

class PixelFormat:
    RGB565: int
    YUV422: int
    GRAYSCALE: int
    JPEG: int

class FrameSize:
    QVGA: int
    CIF: int
    HVGA: int
    VGA: int
    SVGA: int
    XGA: int
    HD: int
    SXGA: int
    UXGA: int

class GrabMode:
    WHEN_EMPTY: int
    LATEST: int

class Camera:
    def __init__(self, **kwargs: Any) -> None: ...
    def init(self) -> None: ...
    def deinit(self) -> None: ...
    def reconfigure(self, **kwargs: Any) -> None: ...
    def set_quality(self, quality: int) -> None: ...
    def capture(self) -> memoryview | bytes | None: ...
    def free_buffer(self) -> None: ...
