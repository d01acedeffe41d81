"""report.html of a real `enhance` run, opened from file:// in headless Chromium (Debian's chromium).

Asserts the page loads without console errors, every image resolves, sorting works and the before/after
slider opens; saves a screenshot to $FACERESTORE_ARTIFACTS (default tests/artifacts/) for the README.
Skips with the reason when chromium, chromedriver or selenium are missing (CI: apt-get install chromium
chromium-driver; pip install -e .[test]).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter

from facerestore import degrade

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("FACERESTORE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FACERESTORE_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("FACERESTORE_ARTIFACTS", Path(__file__).parent / "artifacts"))


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} absent: apt-get install chromium chromium-driver to run the browser test")
    if not Path(CHROMEDRIVER).exists():
        pytest.skip(f"{CHROMEDRIVER} absent: apt-get install chromium chromium-driver to run the browser test")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e .[test])")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="facerestore-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, hopper_path, astronaut_path, tiny_rgb_model) -> Path:
    """A real enhance run with originals: three degraded photos (one failing file) in two folders."""
    from facerestore.cli import cli

    root = tmp_path_factory.mktemp("browser")
    inputs, originals = root / "inputs", root / "originals"
    cases = [(hopper_path, "hopper.png", 12), (astronaut_path, "crew/astronaut.png", 16),
             (astronaut_path, "crew/astronaut face.png", 24)]
    for src, rel, levels in cases:
        with Image.open(src) as im:
            rgb = np.asarray(im.convert("RGB"))[:256, :256]
        for folder, pixels in ((originals, rgb), (inputs, degrade.posterize(rgb, levels))):
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / rel)
    (inputs / "broken.png").write_bytes(b"not an image")
    out = root / "restored"
    result = CliRunner().invoke(cli, ["enhance", str(inputs), "-o", str(out), "--model", str(tiny_rgb_model),
                                      "--reference", str(originals), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 1, result.stderr  # the broken file fails, the others are restored
    assert (out / "report.html").is_file()
    return out


def _severe(logs: list[dict]) -> list[dict]:
    return [entry for entry in logs if entry.get("level") in ("SEVERE", "ERROR")]


def _open_report(browser, inputs: Path, out: Path, model: Path, rows: int):
    """``enhance`` of ``inputs`` with ``model`` into ``out``, its report open in ``browser`` once it shows ``rows``
    rows; the wait, for further steps."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from facerestore.cli import cli

    result = CliRunner().invoke(cli, ["enhance", str(inputs), "-o", str(out), "--model", str(model), "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    browser.get((out / "report.html").as_uri())
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == rows)
    return wait


def test_report_page_in_chromium(browser, run_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get((run_dir / "report.html").as_uri())
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 4)
    assert browser.title == "facerestore report"

    # Every image resolves (thumbnails are lazy: bring each into view first).
    def all_loaded(d) -> bool:
        return d.execute_script("""
            const imgs = [...document.querySelectorAll('#rows img')];
            imgs.forEach(i => i.scrollIntoView());
            return imgs.length > 0 && imgs.every(i => i.complete);""")
    wait.until(all_loaded)
    widths = browser.execute_script("return [...document.querySelectorAll('#rows img')].map(i => i.naturalWidth)")
    assert len(widths) == 3 and all(w > 0 for w in widths)

    # Clicking a column header sorts the rows by it, a second click reverses.
    def column(key: str) -> list[str]:
        index = browser.execute_script(
            f"return [...document.querySelectorAll('#head th')].findIndex(th => th.dataset.key === '{key}')")
        return [row.find_elements(By.TAG_NAME, "td")[index].text for row in browser.find_elements(By.CSS_SELECTOR, "#rows tr")]

    header = browser.find_element(By.CSS_SELECTOR, "#head th[data-key='psnr_in']")
    browser.execute_script("arguments[0].scrollIntoView()", header)
    header.click()
    values = [float(v) for v in column("psnr_in") if v != "\u2014"]
    assert len(values) == 3 and values == sorted(values)
    assert column("psnr_in")[-1] == "\u2014"  # the failed file has no number: last
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    values = [float(v) for v in column("psnr_in") if v != "\u2014"]
    assert values == sorted(values, reverse=True)
    name_header = browser.find_element(By.CSS_SELECTOR, "#head th[data-key='name']")
    name_header.click()
    names = column("name")
    assert names == sorted(names)
    assert "broken.png" in names and "crew/astronaut.png" in names  # failed or not, named under the folder

    # The page shows the run's counts, then the detail of one image: slider previews and chart load.
    assert "1\nfailed" in browser.find_element(By.ID, "cards").text.lower()
    restored = [r for r in browser.find_elements(By.CSS_SELECTOR, "#rows tr") if "restored" in r.text]
    restored[0].click()
    wait.until(lambda d: d.execute_script(
        "return ['before','after','chart'].every(id => { const i = document.getElementById(id);"
        " return i.complete && i.naturalWidth > 0; })"))
    browser.execute_script("const s = document.getElementById('slider'); s.value = 20;"
                           " s.dispatchEvent(new Event('input'));")
    assert browser.execute_script("return document.getElementById('compare').style.getPropertyValue('--pos')") == "20%"

    # Fit fills the dialog's width (or its height); 1:1 and 2x show each preview pixel on 1 or 2x2 screen pixels.
    def shown() -> dict:
        return browser.execute_script("""
            const c = document.getElementById('compare'), a = document.getElementById('after');
            return {width: c.getBoundingClientRect().width, stage: document.getElementById('stage').clientWidth,
                    natural: a.naturalWidth, ratio: window.devicePixelRatio,
                    pressed: document.querySelector('[data-zoom][aria-pressed=true]').dataset.zoom};""")
    fit = shown()
    assert fit["pressed"] == "fit" and fit["natural"] == 256  # the previews are the images' own pixels
    assert fit["width"] > 0.9 * fit["stage"] or fit["width"] > 2 * 256
    for zoom, factor in (("1", 1), ("2", 2)):
        browser.find_element(By.CSS_SELECTOR, f"[data-zoom='{zoom}']").click()
        view = shown()
        assert view["pressed"] == zoom and abs(view["width"] - factor * 256 / view["ratio"]) <= 1
    browser.find_element(By.CSS_SELECTOR, "[data-zoom='fit']").click()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    detail_shot = ARTIFACTS / "report-detail.png"
    browser.save_screenshot(str(detail_shot))
    browser.find_element(By.ID, "close").click()
    browser.execute_script("window.scrollTo(0, 0)")
    shot = ARTIFACTS / "report-screenshot.png"
    browser.save_screenshot(str(shot))
    print(f"report screenshots: {shot} {detail_shot}")
    with Image.open(shot) as im:
        assert im.width >= 1000

    assert _severe(browser.get_log("browser")) == []


def test_changes_that_round_to_zero_are_neutral(browser, tmp_path):
    """A mean change of -0.001 shows as 0.00, neither green nor red; real changes keep their colour."""
    from selenium.webdriver.common.by import By

    from facerestore.report.run import write_run_report
    from facerestore.summary import Record

    out = tmp_path / "out"
    records = [Record(str(tmp_path / f"{name}.png"), str(out / f"{name}.png"), "restored", None, 8, 8, 0.1, None,
                      None, {"psnr_in": 30.0, "psnr_out": 30.0 - drift, "gaps_in": 100.0, "gaps_out": 40.0})
               for name, drift in (("a", 0.001), ("b", 0.003))]
    browser.get(write_run_report(out, records, {"restored": 2}).as_uri())
    cells = {row.find_elements(By.TAG_NAME, "td")[0].text: row.find_elements(By.TAG_NAME, "td")[3]
             for row in browser.find_elements(By.CSS_SELECTOR, "#means tbody tr")}
    assert cells["PSNR (dB)"].text == "0.00" and cells["PSNR (dB)"].get_attribute("class") == ""
    assert cells["gaps"].text == "-60.0" and cells["gaps"].get_attribute("class") == "better"


def test_damage_column_sorts_filters_and_details(browser, tmp_path, hopper_path, astronaut_path, tiny_rgb_model):
    """A clean original (unchanged), a quality-10 JPEG and a banded scan: the damage column says what each had."""
    from selenium.webdriver.common.by import By

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    with Image.open(astronaut_path) as im:
        clean = im.convert("RGB").crop((160, 40, 288, 168))
    clean.save(inputs / "clean.png")
    Image.fromarray(degrade.posterize(np.asarray(clean), 12)).save(inputs / "banded.png")
    with Image.open(hopper_path) as im:
        im.convert("RGB").crop((120, 100, 248, 228)).save(inputs / "q10.jpg", quality=10)
    wait = _open_report(browser, inputs, tmp_path / "out", tiny_rgb_model, rows=3)
    assert "1\nunchanged" in browser.find_element(By.ID, "cards").text.lower()

    def column(key: str) -> list[str]:
        index = browser.execute_script(
            f"return [...document.querySelectorAll('#head th')].findIndex(th => th.dataset.key === '{key}')")
        return [row.find_elements(By.TAG_NAME, "td")[index].text for row in browser.find_elements(By.CSS_SELECTOR, "#rows tr")]

    browser.find_element(By.CSS_SELECTOR, "#head th[data-key='damage']").click()  # by damage level, least first
    assert column("damage")[0] == "clean · unchanged" and column("status")[0] == "unchanged"
    assert "JPEG q10 (tables) · strength 1.00" in column("damage")

    search = browser.find_element(By.ID, "filter")
    search.send_keys("q10 (tables)")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 1)
    browser.find_element(By.CSS_SELECTOR, "#rows tr").click()
    details = browser.find_element(By.ID, "detail-metrics").text
    assert "damage level" in details and "10 (from tables)" in details and "luma q10" in details
    assert _severe(browser.get_log("browser")) == []


def test_details_say_what_the_quality_cost_a_soft_photo(browser, tmp_path, astronaut_path, tiny_rgb_model):
    """A blurred photo saved at 75 lost what the training faces lose at a higher quality; the detail says which,
    and a detailed photo at 10, which lost what its quality costs, gets no such line."""
    from selenium.webdriver.common.by import By

    from facerestore.damage.analysis import analyze
    from facerestore.imageio import read_image

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    with Image.open(astronaut_path) as im:
        photo = im.convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)
    photo.filter(ImageFilter.GaussianBlur(2)).save(inputs / "soft.jpg", quality=75)
    photo.save(inputs / "sharp.jpg", quality=10)
    cost = analyze(read_image(inputs / "soft.jpg")).cost_quality
    assert cost > 75
    wait = _open_report(browser, inputs, tmp_path / "out", tiny_rgb_model, rows=2)
    shown = {}
    for name in ("soft", "sharp"):
        search = browser.find_element(By.ID, "filter")
        search.clear()
        search.send_keys(name)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr")) == 1)
        browser.find_element(By.CSS_SELECTOR, "#rows tr").click()
        shown[name] = browser.find_element(By.ID, "detail-metrics").text
        browser.execute_script("document.querySelector('dialog').close()")
    assert f"as quality {cost} costs the training faces" in shown["soft"]
    assert "costs the training faces" not in shown["sharp"]
    assert _severe(browser.get_log("browser")) == []
