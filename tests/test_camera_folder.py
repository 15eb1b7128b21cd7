"""The camera driver on a folder of images, and how it reads a source."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from devices.camera import CameraError, OpenCvCamera, frame_difference
from devices.camera.driver import Source


def _image(tmp_path, name: str, gray: int) -> np.ndarray:
    frame = np.full((120, 160, 3), gray, np.uint8)
    cv2.putText(frame, name, (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1, (255 - gray,) * 3, 2)
    assert cv2.imwrite(str(tmp_path / name), frame)
    return frame


@pytest.mark.parametrize("how", ["plain", "url"])
def test_a_folder_plays_its_images_in_name_order_then_holds_the_last(tmp_path, how):
    frames = {name: _image(tmp_path, name, gray) for name, gray in
              (("10.png", 200), ("2.png", 100), ("1.png", 40))}
    (tmp_path / "notes.txt").write_text("not an image")
    source = str(tmp_path) if how == "plain" else f"dir://{tmp_path}"
    with OpenCvCamera(source, station="station-3") as cam:
        assert cam.source == source
        got = [cam.grab() for _ in range(4)]
        for frame, name in zip(got, ("1.png", "2.png", "10.png", "10.png"), strict=True):
            assert np.array_equal(frame, frames[name]), name
        late = _image(tmp_path, "11.jpg", 150)  # a photo added while the camera is open
        assert frame_difference(cam.grab(), late) < 6  # JPEG moves a few levels at the text


def test_a_folder_settles_on_its_last_image_once_it_differs_from_the_first(tmp_path):
    first = _image(tmp_path, "a1.png", 40)
    _image(tmp_path, "a2.png", 120)
    last = _image(tmp_path, "a3.png", 220)
    with OpenCvCamera(tmp_path, station="station-3") as cam:
        assert np.array_equal(cam.grab_settled(changed_from=first, timeout=5), last)


def test_folder_mistakes_are_named(tmp_path):
    with pytest.raises(CameraError, match=r"station-3: camera .*: no images in"):
        OpenCvCamera(str(tmp_path), station="station-3").open()
    with pytest.raises(CameraError, match="absolute path"):
        OpenCvCamera("dir://relative/photos", station="station-3")
    (tmp_path / "1.png").write_bytes(b"not a png at all")
    with OpenCvCamera(str(tmp_path), station="station-3") as cam, \
            pytest.raises(CameraError, match=r"1\.png is not an image"):
        cam.grab()
    with pytest.raises(CameraError, match="is not a folder"):
        OpenCvCamera(f"dir://{tmp_path}/missing", station="station-3").open()


def test_a_source_is_an_index_a_stream_or_a_folder(tmp_path):
    assert Source.parse(0) == Source("index", 0, "0")
    assert Source.parse("2") == Source("index", 2, "2")
    assert Source.parse("rtsp://cam.lab:554/live").kind == "stream"
    assert Source.parse("http://127.0.0.1:8080/stream.mjpg").kind == "stream"
    assert Source.parse(str(tmp_path)) == Source("folder", str(tmp_path.resolve()), str(tmp_path))
    assert Source.parse(f"dir://{tmp_path}").target == str(tmp_path)
    # a path that is no folder is left to OpenCV (a video file, /dev/video2)
    assert Source.parse(str(tmp_path / "clip.mp4")).kind == "stream"
    with pytest.raises(CameraError, match="expected a device index"):
        Source.parse("  ")


def test_a_missing_device_index_is_a_clear_error():
    with pytest.raises(CameraError, match="station-5: camera 97: cannot open the stream: is the camera plug"):
        OpenCvCamera(97, station="station-5", timeout=1).open()
