"""The dashboard in headless Chromium driven by Selenium: from the matrix to a service and back, filters,
and no console errors. With ROLLGUARD_UPDATE_SCREENSHOTS=1 it also writes the screenshots in docs/dashboard/."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..audit.test_cluster import FakeApiServer
from ..conftest import ROOT
from .conftest import PROMOTION, Dashboard, running_dashboard
from .test_rollouts import cluster_objects

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "dashboard"


def _chromedriver() -> str | None:
    found = shutil.which("chromedriver")
    return found or (str(Path("/usr/bin/chromedriver")) if Path("/usr/bin/chromedriver").exists() else None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="the browser tests need selenium (pip install selenium)"
    )
    driver_path = _chromedriver()
    if not CHROMIUM.exists() or driver_path is None:
        pytest.skip("the browser tests need Chromium and its driver (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The Debian driver, never one selenium would download.
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def dashboard(fleet_store: str) -> Iterator[Dashboard]:
    # Started beside the store with a relative URL, so no machine path shows on the pages (or screenshots).
    where = Path(fleet_store.removeprefix("sqlite:///")).parent
    # The rollouts started moments before the real clock the dashboard process reads.
    with FakeApiServer(cluster_objects(dt.datetime.now(dt.timezone.utc))) as api:
        kubeconfig = api.kubeconfig(where / "kubeconfig")
        with running_dashboard(
            f"sqlite:///{Path(fleet_store).name}",
            where,
            "--config",
            str(PROMOTION / "rollguard.yaml"),  # its promotion path orders the environments
            "--kubeconfig",
            kubeconfig.name,
            ready=lambda url: httpx.get(f"{url}/healthz").text == "ok",
        ) as running:
            yield running


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def visible_services(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    return [r.get_attribute("data-service") for r in rows if r.is_displayed()]


def screenshot(driver: Any, name: str) -> None:
    if os.environ.get("ROLLGUARD_UPDATE_SCREENSHOTS") != "1":
        return
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(600, min(int(height) + 40, 3000)))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1280, 900)


def test_matrix_to_a_service_and_back(browser: Any, dashboard: Dashboard) -> None:
    from selenium.webdriver.common.by import By

    browser.get(dashboard.url + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Last decision per service and environment"
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#matrix thead th")]
    assert headers == ["Service", "dev", "staging", "prod"]
    assert visible_services(browser) == ["storefront", "web"]
    screenshot(browser, "matrix")

    browser.find_element(By.LINK_TEXT, "web").click()
    assert browser.current_url == dashboard.url + "/service/web"
    assert browser.find_element(By.TAG_NAME, "h1").text == "web"
    marks = browser.find_elements(By.CSS_SELECTOR, "#chart circle, #chart rect")
    assert len(marks) == 7 and all(m.is_displayed() for m in marks)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 7
    assert len(browser.find_elements(By.CSS_SELECTOR, "#promotion tbody tr")) == 2
    assert "critical metric error_rate is fail" in browser.find_element(By.ID, "canaries").text
    screenshot(browser, "service")

    browser.back()
    assert browser.current_url == dashboard.url + "/"
    assert visible_services(browser) == ["storefront", "web"]
    assert console_errors(browser) == []


def test_filters_while_typing_and_as_links(browser: Any, dashboard: Dashboard) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(dashboard.url + "/")
    search = browser.find_element(By.ID, "filter-q")
    search.send_keys("store")
    # The script hides the other rows at once; the count follows.
    WebDriverWait(browser, 5).until(lambda d: visible_services(d) == ["storefront"])
    assert browser.find_element(By.ID, "shown-count").text == "1 of 2 services"

    browser.find_element(By.CSS_SELECTOR, 'input[name="env"][value="prod"]').click()
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 5).until(lambda d: "env=prod" in d.current_url)
    assert "q=store" in browser.current_url  # bookmarkable: the filter is the URL
    assert [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#matrix thead th")] == ["Service", "prod"]
    assert visible_services(browser) == ["storefront"]
    assert "FAIL" in browser.find_element(By.CSS_SELECTOR, "#matrix tbody td").text

    # The same URL opened afresh shows the same filtered page, without the script's help.
    browser.get(browser.current_url)
    assert visible_services(browser) == ["storefront"]
    assert console_errors(browser) == []


def test_the_waivers_page(browser: Any, dashboard: Dashboard) -> None:
    from selenium.webdriver.common.by import By

    browser.get(dashboard.url + "/")
    browser.find_element(By.LINK_TEXT, "Waivers").click()
    row = browser.find_element(By.CSS_SELECTOR, "#waivers tbody tr")
    assert "WVR-112" in row.text and "team-storefront" in row.text
    screenshot(browser, "waivers")
    browser.find_element(By.LINK_TEXT, "expiring").click()
    assert browser.current_url.endswith("/waivers?state=expiring")
    assert "No waiver in this state." in browser.find_element(By.TAG_NAME, "main").text
    assert console_errors(browser) == []


def test_live_rollouts_from_the_stand_in_api_server(browser: Any, dashboard: Dashboard) -> None:
    from selenium.webdriver.common.by import By

    browser.get(dashboard.url + "/")
    browser.find_element(By.LINK_TEXT, "Rollouts").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#rollouts tbody tr")
    assert [r.get_attribute("data-rollout") for r in rows] == [
        "shop/checkout",
        "shop/search",
        "shop/storefront",
        "shop/web",
    ]
    web = rows[-1].text
    assert "progressing" in web and "1 / 3 / 3 of 3" in web and "over the simulated duration" in web
    screenshot(browser, "rollouts")
    rows[-1].find_element(By.LINK_TEXT, "web").click()
    assert browser.current_url == dashboard.url + "/service/web"
    browser.back()
    browser.find_element(By.LINK_TEXT, "stalled").click()
    assert browser.current_url.endswith("/rollouts?state=stalled")
    assert [r.get_attribute("data-rollout") for r in browser.find_elements(By.CSS_SELECTOR, "#rollouts tbody tr")] == [
        "shop/search"
    ]
    assert console_errors(browser) == []
