# Fake micropython-camera-API driver: serves the JPEGs of a host folder the test chooses.
from _hw import call


class PixelFormat:
    RGB565 = 0
    YUV422 = 1
    GRAYSCALE = 3
    JPEG = 4


class FrameSize:
    QVGA = 5
    CIF = 6
    HVGA = 7
    VGA = 8
    SVGA = 9
    XGA = 10
    HD = 11
    SXGA = 12
    UXGA = 13


class GrabMode:
    WHEN_EMPTY = 0
    LATEST = 1


class Camera:
    def __init__(self, **kw):
        self._on = True
        self._kw = kw

    def init(self):
        self._on = True

    def deinit(self):
        self._on = False

    def reconfigure(self, **kw):
        self._kw.update(kw)

    def set_quality(self, q):
        self._kw["jpeg_quality"] = q

    def capture(self):
        if not self._on:
            raise OSError("camera not initialised")
        return bytes.fromhex(call("frame")["jpeg"])

    def free_buffer(self):
        pass
