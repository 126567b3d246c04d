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
def run_dir(demo_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("app") / "run"
    cv = fakezoo.CrossValidator(n_splits=3, epochs=1, batch_size=8, pretrained=False,
                                image_size=64, device="cpu", progress=False, num_workers=1)
    cv.run("mobilenet_v2", fakezoo.load_dataset(demo_dir), finetune=False, lr=1e-3,
           out_dir=out)
    return out


@pytest.fixture(scope="module")
def app_url(run_dir):
    from fakezoo.app import launch

    demo = launch(run_dir, port=_free_port(), block=False, device="cpu", quiet=True,
                  max_file_size="2mb")
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="module")
def cli_app_url(run_dir):
    """``fakezoo app`` in a subprocess, as a user starts it."""
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "fakezoo.cli", "app", "--model",
                             str(run_dir), "--port", str(port), "--device", "cpu",
                             "--max-file-size", "100kb"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"fakezoo app exited with {proc.returncode}:\n{proc.stdout.read()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail("fakezoo app did not start listening within 240 s")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "corrupt.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    return path


def test_served_on_loopback_with_analytics_off(app_url):
    assert urlsplit(app_url).hostname == "127.0.0.1"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_gradio_client_gets_the_same_numbers_as_predict(cli_app_url, demo_dir, run_dir,
                                                       corrupt, tmp_path):
    from gradio_client import Client, handle_file

    image = sorted((demo_dir / "fake").glob("*.jpg"))[0]
    client = Client(cli_app_url, verbose=False, download_files=False)
    summary, label, folds, heatmap = client.predict(handle_file(str(image)),
                                                    api_name="/predict")
    expected = fakezoo.predict(image, model=run_dir, device="cpu")
    assert f"Label: **{expected.label}**" in summary
    assert f"P(fake): **{expected.prob_fake:.4f}**" in summary
    assert label["label"] == expected.label
    shown = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert shown["fake"] == pytest.approx(expected.prob_fake, abs=1e-6)
    rows = folds["data"]
    assert [r[0] for r in rows] == ["fold_1", "fold_2", "fold_3", "ensemble"]
    assert [r[1] for r in rows] == pytest.approx([*expected.fold_probs, expected.prob_fake],
                                                 abs=1e-4)
    assert heatmap is not None

    summary, label, folds, heatmap = client.predict(handle_file(str(corrupt)),
                                                    api_name="/predict")
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
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-extensions",
                "--window-size=1280,900",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _upload(driver, url: str, path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, 120)
    field = wait.until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, "#fakezoo-upload input[type=file]")))
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


def test_browser_upload_shows_label_probability_and_heatmap(browser, app_url, demo_dir,
                                                            run_dir, tmp_path):
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
            "return i && i.complete ? i.naturalWidth : 0;")
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
    outside = [u for u in _requested_urls(browser)
               if u.startswith(("http:", "https:", "ws:", "wss:")) and not u.startswith(origin)]
    assert outside == []


def test_browser_corrupt_upload_shows_the_message(browser, app_url, corrupt):
    text = _upload(browser, app_url, corrupt)
    assert "Error: Could not read corrupt.jpg: " in text and "Upload an image file" in text
    assert "Traceback" not in browser.page_source
