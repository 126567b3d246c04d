"""fakezoo.app: the Gradio page, driven by a real Chromium (Selenium) and by gradio_client.

The app runs in this process on a free loopback port. Chromium is Debian's (/usr/bin/chromium
with /usr/bin/chromedriver); Selenium gets both paths, so it never tries to download a driver.
In CI (``CI=true``) a missing Chromium fails the test instead of skipping it.

Set ``FAKEZOO_UPDATE_SCREENSHOT=1`` to copy the screenshot to ``docs/img/app.png``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import fakezoo

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def run_dir(tiny_run) -> Path:
    return tiny_run


@pytest.fixture(scope="module")
def app_url(run_dir):
    from fakezoo.app import launch

    demo = launch(
        run_dir, port=_free_port(), block=False, device="cpu", quiet=True, max_file_size="2mb"
    )
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="module")
def cli_app(run_dir):
    """``fakezoo -q app`` in a subprocess, as a user starts it: its URL and the lines it
    printed until it listened."""
    import select

    port = _free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
        ),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fakezoo.cli",
            "-q",
            "app",
            "--model",
            str(run_dir),
            "--port",
            str(port),
            "--device",
            "cpu",
            "--max-file-size",
            "100kb",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    lines: list[str] = []
    deadline = time.monotonic() + 240
    try:
        while not any(url.rstrip("/") in line for line in lines):
            if proc.poll() is not None:
                pytest.fail(f"fakezoo app exited with {proc.returncode}:\n{proc.stdout.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"fakezoo app printed no URL within 240 s: {lines}")
            if select.select([proc.stdout], [], [], 0.5)[0]:
                lines.append(proc.stdout.readline())
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) == 0, "printed its URL before listening"
        yield url, lines
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def cli_app_url(cli_app):
    return cli_app[0]


def test_cli_app_prints_its_url_even_with_quiet(cli_app):
    url, lines = cli_app
    printed = "".join(lines)
    assert url.rstrip("/") in printed
    assert "launch()" not in printed and "share=True" not in printed  # Gradio's API advice


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "corrupt.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return path


def test_served_on_loopback_with_analytics_off(app_url):
    assert urlsplit(app_url).hostname == "127.0.0.1"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_gradio_client_gets_the_same_numbers_as_predict(
    cli_app_url, demo_dir, run_dir, corrupt, tmp_path
):
    from gradio_client import Client, handle_file

    image = sorted((demo_dir / "fake").glob("*.jpg"))[0]
    client = Client(cli_app_url, verbose=False, download_files=False)
    summary, label, folds, heatmap, boxes, faces = client.predict(
        handle_file(str(image)), api_name="/predict"
    )
    expected = fakezoo.predict(image, model=run_dir, device="cpu")
    assert not boxes and faces["data"] == [["", None, "", None, None]]  # faces off: no boxes
    assert f"Label: **{expected.label}**" in summary
    assert f"P(fake): **{expected.prob_fake:.4f}**" in summary
    assert label["label"] == expected.label
    shown = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert shown["fake"] == pytest.approx(expected.prob_fake, abs=1e-6)
    rows = folds["data"]
    assert [r[0] for r in rows] == ["fold_1", "fold_2", "fold_3", "ensemble"]
    assert [r[1] for r in rows] == pytest.approx(
        [*expected.fold_probs, expected.prob_fake], abs=1e-4
    )
    assert heatmap is not None

    summary, label, folds, heatmap, boxes, faces = client.predict(
        handle_file(str(corrupt)), api_name="/predict"
    )
    assert summary.startswith("**Error:** Could not read corrupt.jpg")
    assert "Traceback" not in summary and heatmap is None

    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(200_000))  # over --max-file-size 100kb: refused at upload
    with pytest.raises(Exception, match=r"(?i)size|large"):
        client.predict(handle_file(str(big)), api_name="/predict")


# -- a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI: {reason}; install them with apt (see .ci/run)")
        pytest.skip(reason)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _upload(driver, url: str, path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 120)
    field = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#fakezoo-upload input[type=file]"))
    )
    field.send_keys(str(path))
    summary = driver.find_element(By.ID, "fakezoo-summary")
    wait.until(lambda d: "P(fake)" in summary.text or "Error" in summary.text)
    return summary.text


def _requested_urls(driver) -> list[str]:
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_browser_upload_shows_label_probability_and_heatmap(
    browser, app_url, demo_dir, run_dir, tmp_path
):
    from selenium.webdriver.common.by import By

    image = sorted((demo_dir / "fake").glob("*.jpg"))[0]
    text = _upload(browser, app_url, image)
    expected = fakezoo.predict(image, model=run_dir, device="cpu")
    match = re.search(r"Label: (\w+) · P\(fake\): ([0-9.]+)", text)
    assert match, text
    assert match.group(1) == expected.label
    assert float(match.group(2)) == pytest.approx(expected.prob_fake, abs=5e-5)
    deadline = time.monotonic() + 60
    loaded = 0
    while time.monotonic() < deadline and not loaded:
        loaded = browser.execute_script(
            "const i = document.querySelector('#fakezoo-heatmap img');"
            "return i && i.complete ? i.naturalWidth : 0;"
        )
        time.sleep(0.2)
    assert loaded >= 256  # the overlay is drawn at 256 px or more
    assert "ensemble" in browser.find_element(By.ID, "fakezoo-folds").text
    shot = tmp_path / "app.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("FAKEZOO_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs" / "img").mkdir(exist_ok=True)
        shutil.copy(shot, ROOT / "docs" / "img" / "app.png")
    # the page fetched nothing but the app itself: no analytics, fonts or CDNs
    origin = app_url.rstrip("/")
    outside = [
        u
        for u in _requested_urls(browser)
        if u.startswith(("http:", "https:", "ws:", "wss:")) and not u.startswith(origin)
    ]
    assert outside == []


def test_browser_corrupt_upload_shows_the_message(browser, app_url, corrupt):
    text = _upload(browser, app_url, corrupt)
    assert "Error: Could not read corrupt.jpg: " in text and "Upload an image file" in text
    assert "Traceback" not in browser.page_source


# -- faces: boxes on whole photos, and videos ---------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    pytest.importorskip("av")
    pytest.importorskip("facenet_pytorch")
    pytest.importorskip("skimage")
    from face_images import face_media

    return face_media(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="module")
def faces_app_url(run_dir):
    from fakezoo.app import launch

    demo = launch(run_dir, port=_free_port(), block=False, device="cpu", quiet=True, faces=True)
    yield demo.local_url
    demo.close()


def _wait_for_images(driver, selector: str, count: int) -> list[str]:
    """The ``src`` of the loaded images under ``selector``, once at least ``count`` loaded."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        srcs = driver.execute_script(
            "return [...document.querySelectorAll(arguments[0])]"
            ".filter(i => i.complete && i.naturalWidth > 0).map(i => i.src);",
            selector,
        )
        if len(set(srcs)) >= count:
            return sorted(set(srcs))
        time.sleep(0.2)
    pytest.fail(f"fewer than {count} images loaded under {selector}")


def _served_image(url: str):
    import io
    import urllib.request

    import numpy as np
    from PIL import Image

    with urllib.request.urlopen(url, timeout=30) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))


def test_browser_photo_faces_are_boxed_with_their_scores(
    browser, faces_app_url, media, run_dir, tmp_path
):
    import numpy as np
    from selenium.webdriver.common.by import By

    from fakezoo.explain import BOX_COLOUR

    text = _upload(browser, faces_app_url, media["two"])
    expected = fakezoo.predict(media["two"], model=run_dir, device="cpu", faces=True)
    match = re.search(r"Label: (\w+) · P\(fake\): ([0-9.]+)", text)
    assert match and match.group(1) == expected.label, text
    assert float(match.group(2)) == pytest.approx(expected.prob_fake, abs=5e-5)
    assert "its most fake face of 2" in text
    [src] = _wait_for_images(browser, "#fakezoo-boxes img", 1)
    shown = _served_image(src)  # the 1040 x 380 photo shrunk to 1024 px, each face boxed
    assert shown.shape[:2] == (374, 1024)
    scale = 1024 / 1040
    table = browser.find_element(By.ID, "fakezoo-faces").text
    for f in expected.faces:
        x0, y0, _, y1 = (round(v * scale) for v in f.box)
        edge = shown[(y0 + y1) // 2, x0 - 1 : x0 + 2].astype(int)  # the box's left edge
        assert np.abs(edge - BOX_COLOUR).max(axis=1).min() < 40, edge
        assert f"{f.prob_fake:.4f}" in table and f"{f.box[0]:g}" in table
    assert "photo: 2 faces" in browser.find_element(By.ID, "fakezoo-boxes").text
    _wait_for_images(browser, "#fakezoo-heatmap img", 1)
    browser.set_window_size(1280, 1300)  # the boxes and the face table too
    try:
        time.sleep(0.5)
        browser.save_screenshot(str(tmp_path / "app-faces.png"))
    finally:
        browser.set_window_size(1280, 900)
    if os.environ.get("FAKEZOO_UPDATE_SCREENSHOT") == "1":
        shutil.copy(tmp_path / "app-faces.png", ROOT / "docs" / "img" / "app-faces.png")


def test_browser_video_gets_a_verdict_and_scores_per_frame(
    browser, faces_app_url, media, run_dir, tmp_path
):
    from selenium.webdriver.common.by import By

    text = _upload(browser, faces_app_url, media["clip"])
    expected = fakezoo.predict(media["clip"], model=run_dir, device="cpu", faces=True)
    assert len(expected.frames) == 6
    match = re.search(r"P\(fake\): ([0-9.]+)", text)
    assert float(match.group(1)) == pytest.approx(expected.prob_fake, abs=5e-5)
    assert "Video: the mean of 6 of 6 sampled frames" in text
    assert len(_wait_for_images(browser, "#fakezoo-boxes img", 6)) == 6
    table = browser.find_element(By.ID, "fakezoo-faces").text
    for f in expected.frames:
        assert f"frame {f.frame}" in table and f"{f.faces[0].prob_fake:.4f}" in table
    top = max(expected.frames, key=lambda f: f.prob_fake).frame
    assert f"Heatmaps: frame {top}" in text
    _wait_for_images(browser, "#fakezoo-heatmap img", 1)
    browser.save_screenshot(str(tmp_path / "app-video.png"))


def test_no_face_and_a_broken_video_get_a_message(run_dir, media):
    from fakezoo.app import analyze

    det = fakezoo.load(run_dir, device="cpu")
    empty = analyze(det, media["empty"], faces=True)
    assert empty.error.startswith("No face found in empty.png") and empty.boxes == []
    broken = analyze(det, media["broken"])  # a video goes by its faces even with faces off
    assert (
        broken.error.startswith("Could not read broken.mp4: ") and "Upload a video" in broken.error
    )
    assert "Traceback" not in broken.summary
