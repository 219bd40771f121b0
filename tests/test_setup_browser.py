"""The setup page in a real browser: headless Chromium (Debian's package) driven by selenium.

A real clip through the project's own BlazePose (litert backend) feeds the page; the test enters
the PIN and reads what a person would see: the picture with the skeleton, the estimated view,
the cut-off parts and the judgeable conditions. Screenshots at phone size go to
``$FORMCHECK_SCREENSHOTS`` (e.g. ``docs``) when set, else to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip("headless Chromium is absent (apt-get install chromium chromium-driver)",
                allow_module_level=True)
pytest.importorskip("aiohttp")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from formcheck.device.app.config import SetupConfig  # noqa: E402
from formcheck.device.app.setup_feed import SetupFeed  # noqa: E402
from formcheck.device.app.setup_server import SetupServer  # noqa: E402
from formcheck.device.events import RepEvent  # noqa: E402

pytestmark = [pytest.mark.shared_data]
PIN = "135790"
PHONE = (390, 844)
STANDING_FRAME = 100  # the lifter stands between reps, the whole body in view


@pytest.fixture(scope="module")
def clip_poses(videos_dir):
    """A frame of a real squat clip (standing, between reps) and its pose from the project's
    litert BlazePose, tracking from the clip's start."""
    import cv2

    from formcheck.device.pose.landmarks import create_estimator

    cap = cv2.VideoCapture(str(videos_dir / "squat_front.mp4"))
    est = create_estimator("litert", threads=1)
    try:
        for i in range(STANDING_FRAME + 1):
            ok, bgr = cap.read()
            assert ok, f"squat_front.mp4 has no frame {i}"
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            pose = est.estimate(frame, i / 30)
    finally:
        est.close()
        cap.release()
    assert pose.person
    return frame, pose


@pytest.fixture
def browser(tmp_path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="fc-chromium-")
    opts = Options()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                 f"--window-size={PHONE[0]},{PHONE[1]}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    drv.set_page_load_timeout(60)
    # Phone-sized CSS viewport, whatever the window decorations.
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True})
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def waiter(drv, timeout: float) -> WebDriverWait:
    """A wait that retries while the page is being replaced (a form post, a re-render)."""
    return WebDriverWait(drv, timeout, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))


def shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("FORMCHECK_SCREENSHOTS", "") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def shot(drv, path: Path, element_id: str | None = None) -> None:
    if element_id:
        drv.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'start'});",
                           element_id)
    drv.save_screenshot(str(path))
    assert path.stat().st_size > 5000


def open_page(drv, feed) -> SetupServer:
    srv = SetupServer(feed, SetupConfig(bind="127.0.0.1", port=0, duration=120), pin=PIN,
                      on_save=lambda p: "saved").start()
    drv.get(srv.url.replace(srv.url.split("/")[2].split(":")[0], "127.0.0.1"))
    return srv


def login(drv, pin: str) -> None:
    box = drv.find_element(By.ID, "pin")
    box.clear()
    box.send_keys(pin)
    drv.find_element(By.ID, "login").click()


def skeleton_pixels(drv) -> int:
    """Pixels of the skeleton's colours on the canvas (green: seen joints, orange: joints the
    model is unsure of)."""
    return drv.execute_script("""
        const c = document.getElementById('picture');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const near = (i, r, g, b) => Math.abs(d[i] - r) < 30 && Math.abs(d[i+1] - g) < 30 && Math.abs(d[i+2] - b) < 30;
        let n = 0;
        for (let i = 0; i < d.length; i += 4)
          if (near(i, 61, 220, 132) || near(i, 255, 176, 32)) n++;
        return n;""")


def test_pin_then_live_picture_with_skeleton_view_and_conditions(browser, clip_poses, tmp_path):
    frame, pose = clip_poses
    feed = SetupFeed(frame_rate=10.0, placement={"exercise": "squat"})
    out = shots_dir(tmp_path)
    srv = open_page(browser, feed)
    try:
        feed.push(frame, pose)
        feed.handle(RepEvent(t=1.0, exercise="squat", rep=3, correct=False, cues=["go deeper"], good=2, bad=1))
        wait = waiter(browser, 30)
        wait.until(lambda d: d.find_element(By.ID, "pin"))
        shot(browser, out / "setup-pin.png")
        login(browser, "000000")
        wait.until(lambda d: "Wrong PIN" in d.find_element(By.ID, "message").text)
        assert not browser.find_elements(By.ID, "picture")
        login(browser, PIN)
        wait.until(lambda d: d.find_element(By.ID, "picture").get_attribute("data-joints") == "33")
        assert skeleton_pixels(browser) > 200
        wait.until(lambda d: d.find_element(By.ID, "view").text.startswith("view: ") and
                   d.find_element(By.ID, "view").text != "view: …")
        view = browser.find_element(By.ID, "view").text
        expected = feed.status()["view"]["view"]
        assert expected in view
        conds = browser.find_elements(By.CSS_SELECTOR, "#conditions li")
        assert len(conds) == 5
        judged = {li.text.split("\n")[0] for li in conds if "yes" in li.get_attribute("class")}
        not_judged = [li for li in conds if "no" in li.get_attribute("class")]
        st = feed.status()
        assert judged == {c["cue"] for c in st["conditions"] if c["judgeable"]}
        if not_judged:
            assert browser.find_element(By.ID, "suggestion").text == st["suggestion"] != ""
        assert "3" == browser.find_element(By.ID, "reps").text
        assert "go deeper" in browser.find_element(By.ID, "last").text
        whole = browser.find_element(By.ID, "whole").text
        assert ("whole body in frame" in whole) == st["framing"]["whole_body"]
        shot(browser, out / "setup-judge.png", "conditions-card")

        # The camera tilted up: the same person with the legs below the picture.
        h = frame.shape[0]
        cut = int(h * 0.62)
        lm = pose.landmarks.copy()
        lm[:, 1] = lm[:, 1] * h / cut
        from formcheck.device.pose.landmarks import Pose

        feed.push(np.ascontiguousarray(frame[:cut]), Pose(pose.t, lm, (frame.shape[1], cut)))
        wait.until(lambda d: "cut off" in d.find_element(By.ID, "whole").text)
        items = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#framing li")]
        assert any(t.startswith("feet cut off at the bottom") for t in items)
        browser.execute_script("window.scrollTo(0, 0);")
        shot(browser, out / "setup-cutoff.png")
    finally:
        srv.stop()
    # The page notices the end and says so.
    waiter(browser, 15).until(lambda d: "has closed" in d.find_element(By.TAG_NAME, "body").text)


def test_formcheck_station_setup_on_a_real_clip(browser, videos_dir, tmp_path):
    """``formcheck-station --setup --source squat_front.mp4``: the page shows the station's own
    picture, skeleton, estimated view, framing and judgeable conditions while the clip plays,
    and says so when the station stops at the end of the clip."""
    import re
    import subprocess
    import sys
    import threading

    cfg = tmp_path / "station.toml"
    cfg.write_text('[gpio]\nenabled = false\n[display]\nenabled = false\n'
                   '[setup]\nbind = "127.0.0.1"\nport = 0\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "formcheck.device.app.cli", "--config", str(cfg), "--setup",
         "--source", str(videos_dir / "squat_front.mp4"), "--exercise", "squat",
         "--pose-backend", "litert", "--no-json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    found = threading.Event()
    where: dict[str, str] = {}

    def read():
        for line in proc.stderr:
            lines.append(line)
            m = re.search(r"setup page open for .* at (http://\S+)\s+PIN (\d{6})", line)
            if m:
                where.update(url=m.group(1), pin=m.group(2))
                found.set()

    threading.Thread(target=read, daemon=True).start()
    out = shots_dir(tmp_path)
    try:
        assert found.wait(90), "no setup PIN in the station's log:\n" + "".join(lines[-20:])
        browser.get(where["url"])
        wait = waiter(browser, 20)
        wait.until(lambda d: d.find_element(By.ID, "pin"))
        login(browser, where["pin"])
        wait.until(lambda d: d.find_element(By.ID, "picture").get_attribute("data-joints") == "33")
        assert skeleton_pixels(browser) > 200
        wait.until(lambda d: re.match(r"view: (front|oblique|side)", d.find_element(By.ID, "view").text))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#conditions li")) == 5)
        whole = browser.find_element(By.ID, "whole").text
        assert "whole body in frame" in whole or "cut off" in whole
        classes = [li.get_attribute("class") for li in browser.find_elements(By.CSS_SELECTOR, "#conditions li")]
        assert "yes" in classes
        shot(browser, out / "setup-station.png")
        assert proc.wait(60) == 0  # the clip ends, the station stops cleanly and closes the page
        waiter(browser, 15).until(lambda d: "has closed" in d.find_element(By.TAG_NAME, "body").text)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    log = "".join(lines)
    assert "setup page closed (station stopping)" in log
    assert where["pin"] in log  # the PIN is in the log, as the issue asks


def test_history_view_marks_a_rep_wrong_with_one_click(browser, tmp_path):
    from formcheck.device.outputs.history import History

    h = History(tmp_path / "history.sqlite3")
    ids = [h.add(RepEvent(t=float(n), exercise="squat", rep=n, correct=True, cues=[] if n == 1 else ["go deeper"],
                          start=n - 1.0, end=float(n))) for n in (1, 2)]
    feed = SetupFeed(frame_rate=10.0, placement={"exercise": "squat"})
    srv = SetupServer(feed, SetupConfig(bind="127.0.0.1", port=0, duration=120), pin=PIN, history=h).start()
    try:
        browser.get(f"http://127.0.0.1:{srv.port}/")
        wait = waiter(browser, 30)
        wait.until(lambda d: d.find_element(By.ID, "pin"))
        login(browser, PIN)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 2)
        row = browser.find_element(By.CSS_SELECTOR, f'#history tr[data-id="{ids[1]}"]')
        assert "go deeper" in row.text and "squat" in row.text
        # fits a phone: nothing to scroll sideways for
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        browser.execute_script("arguments[0].scrollIntoView();", row)
        row.find_element(By.CSS_SELECTOR, "button.mark-wrong").click()
        wait.until(lambda d: "marked wrong" in d.find_element(By.ID, "history-msg").text)
        assert h.get(ids[1])["verdict_ok"] is False and h.get(ids[0])["verdict_ok"] is None
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'#history tr[data-id="{ids[1]}"] td.mark')
                   .text.startswith("wrong"))
        shot(browser, tmp_path / "setup-history.png", "history-card")
    finally:
        srv.stop()
        h.close()
