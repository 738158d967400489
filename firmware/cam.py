# The camera adapter: the only module that knows the driver (micropython-camera-API). Another
# driver means another `burst` here, nothing else.


def burst(conf: dict, feed: object = None) -> list:
    """Capture conf['burst'] JPEG frames; the sensor is powered only for the burst."""
    from camera import Camera, FrameSize, PixelFormat

    kw = {
        "pixel_format": PixelFormat.JPEG,
        "frame_size": getattr(FrameSize, conf["frame_size"]),
        "jpeg_quality": conf["jpeg_quality"],
        "fb_count": 2,
    }
    kw.update(conf.get("camera_pins") or {})  # boards other than the driver's build default
    cam = Camera(**kw)
    try:
        frames = []
        for _ in range(conf["burst"]):
            img = cam.capture()
            if not img:
                raise OSError("camera returned no frame")
            frames.append(bytes(img))
            if feed:
                feed()  # type: ignore[operator]
        return frames
    finally:
        cam.deinit()
