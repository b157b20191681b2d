"""The annotation page in a real headless Chromium (Selenium + Debian's chromium-driver).

Serves the app with uvicorn on a free local port, opens the page, uploads an image, draws a box,
adds and removes a point, checks that the mask changes, accepts, exports COCO JSON, and checks the
exported file against the service's own answer. Screenshots go to ``IDSEG_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
webdriver = pytest.importorskip("selenium.webdriver")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMEDRIVER and CHROMIUM),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver; .ci/run installs them)",
    ),
]

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

from _helpers import make_scene  # noqa: E402
from idseg.formats import rle_to_mask  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tiny_model):
    import uvicorn

    from idseg.documents.pipeline import DocumentPipeline
    from idseg.sam.predictor import SAM2Predictor
    from idseg.server.app import create_app

    port = free_port()
    app = create_app(SAM2Predictor(tiny_model), DocumentPipeline())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser(tmp_path):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,900",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    yield driver
    driver.quit()


def wait_for(predicate, timeout: float = 30.0):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the page")


def shot(driver, name: str) -> None:
    folder = os.environ.get("IDSEG_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def body_data(driver, key: str) -> str:
    return driver.find_element(By.TAG_NAME, "body").get_attribute(f"data-{key}") or ""


def idle(driver) -> bool:
    return body_data(driver, "busy") == "false"


def at(driver, canvas, x: float, y: float) -> tuple[int, int]:
    """Offset from the canvas centre of image pixel ``(x, y)`` (the canvas is scaled by CSS)."""
    size = canvas.size
    width = int(canvas.get_attribute("width"))
    height = int(canvas.get_attribute("height"))
    return (
        round(x * size["width"] / width - size["width"] / 2),
        round(y * size["height"] / height - size["height"] / 2),
    )


def click_and_wait(browser, canvas, xy: tuple[float, float], area: int, right: bool) -> int:
    """Click the image at ``xy`` (right: remove); the pending mask's area once it changed."""
    chain = ActionChains(browser).move_to_element_with_offset(canvas, *at(browser, canvas, *xy))
    (chain.context_click() if right else chain.click()).perform()
    wait_for(lambda: idle(browser) and body_data(browser, "pending-area") != str(area))
    return int(body_data(browser, "pending-area"))


def test_annotate_a_box_refine_accept_and_export(server, browser, tmp_path):
    import cv2

    image = make_scene(300, 420, seed=11)
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image[:, :, ::-1])
    browser.get(server + "/")
    assert "idseg" in browser.title
    browser.find_element(By.ID, "file").send_keys(str(path))
    canvas = browser.find_element(By.ID, "canvas")
    wait_for(lambda: "Drag a box" in browser.find_element(By.ID, "status").text)
    shot(browser, "1_loaded")

    chain = ActionChains(browser)
    chain.move_to_element_with_offset(canvas, *at(browser, canvas, 60, 50)).click_and_hold()
    chain.move_to_element_with_offset(canvas, *at(browser, canvas, 200, 150))
    chain.move_to_element_with_offset(canvas, *at(browser, canvas, 330, 240)).release().perform()
    area_box = int(wait_for(lambda: idle(browser) and body_data(browser, "pending-area")))
    shot(browser, "2_box")

    area_added = click_and_wait(browser, canvas, (380, 270), area_box, right=False)
    shot(browser, "3_point_added")

    area_removed = click_and_wait(browser, canvas, (150, 120), area_added, right=True)
    assert len({area_box, area_added, area_removed}) == 3  # each prompt changed the mask
    shot(browser, "4_point_removed")

    browser.find_element(By.ID, "stage").send_keys(Keys.ENTER)  # keyboard: accept
    wait_for(lambda: body_data(browser, "objects") == "1")
    assert "object" in browser.find_element(By.ID, "objects").text
    shot(browser, "5_accepted")

    browser.find_element(By.ID, "export-coco").click()
    exported = wait_for(lambda: list(browser.downloads.glob("scene_coco.json")))
    coco = json.loads(exported[0].read_text())
    assert coco["images"][0]["width"] == 420 and coco["images"][0]["height"] == 300
    (ann,) = coco["annotations"]
    mask = rle_to_mask(ann["segmentation"])
    assert mask.shape == (300, 420)
    assert int(mask.sum()) == ann["area"] == area_removed
    assert coco["categories"] == [{"id": 1, "name": "object"}]

    browser.find_element(By.ID, "export-png").click()
    png = wait_for(lambda: list(browser.downloads.glob("scene_masks.png")))
    labels = cv2.imread(str(png[0]), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(labels == 1, mask)

    browser.find_element(By.ID, "view").click()  # polygons view
    browser.find_element(By.ID, "document").click()
    wait_for(lambda: idle(browser) and "Documents:" in browser.find_element(By.ID, "status").text)
    shot(browser, "6_polygons_and_document_mode")


@pytest.fixture(scope="module")
def doc_server():
    """The service as users run it offline: idseg's own small SAM2 and the embedded pipeline."""
    import uvicorn

    from idseg.documents.pipeline import DocumentPipeline
    from idseg.models.sam2 import load_sam2
    from idseg.sam.predictor import SAM2Predictor
    from idseg.server.app import create_app

    port = free_port()
    predictor = SAM2Predictor(load_sam2("idseg_doc_small", device="cpu"))
    app = create_app(predictor, DocumentPipeline())
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_for(lambda: srv.started, 20)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_document_mode_and_a_field_on_a_specimen_card(doc_server, browser):
    from idseg.documents.pipeline import DocumentPipeline

    sample = Path(__file__).resolve().parents[1] / "src/idseg/assets/samples/us_card.png"
    expected = DocumentPipeline().analyze(sample).to_dict()
    browser.get(doc_server + "/")
    browser.find_element(By.ID, "file").send_keys(str(sample))
    wait_for(lambda: "Drag a box" in browser.find_element(By.ID, "status").text)
    browser.find_element(By.ID, "stage").send_keys("d")  # keyboard: document mode
    status = wait_for(
        lambda: (
            idle(browser)
            and "Documents:" in browser.find_element(By.ID, "status").text
            and browser.find_element(By.ID, "status").text
        )
    )
    fields = sum(len(d["fields"]) for d in expected["documents"])
    assert status == f"Documents: {len(expected['documents'])}, fields: {fields}."
    shot(browser, "7_document_mode")
    portrait = next(
        f for d in expected["documents"] for f in d["fields"] if f["class"] == "portrait"
    )
    xs = [p[0] for p in portrait["image_polygon"]]
    ys = [p[1] for p in portrait["image_polygon"]]
    canvas = browser.find_element(By.ID, "canvas")
    # One click gives three candidates; `c` shows the next one; Escape discards.
    ActionChains(browser).move_to_element_with_offset(
        canvas, *at(browser, canvas, 400, 300)
    ).click().perform()
    wait_for(lambda: idle(browser) and body_data(browser, "pending-area"))
    assert not browser.find_element(By.ID, "next").get_attribute("disabled")
    browser.find_element(By.ID, "stage").send_keys("c")
    wait_for(lambda: body_data(browser, "candidate") == "1")
    assert "Candidate 2 of 3" in browser.find_element(By.ID, "status").text
    browser.find_element(By.ID, "stage").send_keys(Keys.ESCAPE)
    wait_for(lambda: body_data(browser, "pending-area") == "")
    label = browser.find_element(By.ID, "label")
    label.clear()
    label.send_keys("portrait")
    chain = ActionChains(browser)
    chain.move_to_element_with_offset(canvas, *at(browser, canvas, min(xs), min(ys)))
    chain.click_and_hold()
    chain.move_to_element_with_offset(canvas, *at(browser, canvas, max(xs), max(ys)))
    chain.release().perform()
    wait_for(lambda: idle(browser) and body_data(browser, "pending-area"))
    browser.find_element(By.ID, "accept").click()
    wait_for(lambda: body_data(browser, "objects") == "1")
    assert "portrait" in browser.find_element(By.ID, "objects").text
    shot(browser, "8_portrait_accepted")
