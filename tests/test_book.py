"""The course as a website (make book), checked in a real browser (make test-book).

Builds the site from the committed notebooks, serves it from 127.0.0.1 and drives
headless Chromium over it: every lesson page loads with no console error and has the
navigation, search finds a word of one lesson only, every internal link resolves, and
a screenshot of a lesson page is written for a person to look at. External links are
listed in build/book-external-links.txt, not fetched. Skipped where the website's
tools (the `book` and `book-test` extras) or Chromium are missing: `make test-book`
installs the tools; Chromium comes from the system (apt-get install chromium).
"""

import functools
import html.parser
import http.server
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest

pytest.importorskip("myst_nb", reason="the website's tools: make test-book installs them")
pytest.importorskip("playwright", reason="the website's tools: make test-book installs them")
# Debian's Chromium (apt-get install chromium), or the one `python -m playwright install
# chromium` downloads (GitHub's runners), with RESNET_LAB_PLAYWRIGHT_CHROMIUM=1.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BUNDLED = os.environ.get("RESNET_LAB_PLAYWRIGHT_CHROMIUM") == "1"
pytestmark = pytest.mark.skipif(CHROMIUM is None and not BUNDLED,
                                reason="no chromium (apt-get install chromium)")

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book") / "book"
    result = subprocess.run([sys.executable, str(ROOT / "book" / "build.py"), str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert warnings == []
    return out


@pytest.fixture(scope="module")
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=None if BUNDLED else CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def test_every_internal_link_resolves_and_external_ones_are_listed(site):
    missing, external = [], set()
    for page in site.rglob("*.html"):
        if page.relative_to(site).parts[0] == "_static":
            continue  # the theme's templates, not pages
        parser = _Links()
        parser.feed(page.read_text())
        for link in parser.links:
            parts = urllib.parse.urlsplit(link)
            if parts.scheme in ("http", "https"):
                external.add(link)
            elif parts.scheme or link.startswith("#") or not parts.path:
                continue
            elif not (page.parent / urllib.parse.unquote(parts.path)).exists():
                missing.append((page.relative_to(site), link))
    assert missing == []
    listing = ROOT / "build" / "book-external-links.txt"
    listing.parent.mkdir(exist_ok=True)
    listing.write_text("\n".join(sorted(external)) + "\n")
    assert any("arxiv.org" in link for link in external)


def test_every_figure_of_a_lesson_has_its_description_as_alternative_text(site):
    for lesson in LESSONS:
        images = re.findall(r'<img alt="([^"]*)" src="../_images/', (
            site / "notebooks" / f"{lesson}.html").read_text())
        assert all(len(alt) > 40 and "_images" not in alt for alt in images), (lesson, images)


def test_every_lesson_page_loads_without_console_errors_and_has_navigation(server, browser):
    page = browser.new_page()
    errors, failed = [], []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda response: failed.append(response.url)
            if response.status >= 400 else None)
    for lesson in LESSONS:
        page.goto(f"{server}/notebooks/{lesson}.html")
        assert page.title(), lesson
        sidebar = page.locator("nav.bd-links a").all_inner_texts()
        assert len(sidebar) >= len(LESSONS), (lesson, sidebar)
        assert page.locator(".prev-next-area a").count() >= 1, lesson
        assert page.locator("a[href*='colab.research.google.com']").count() >= 2, lesson
    # Offline, only resources of other sites fail (the Colab badge's image): each
    # failure is one console line "Failed to load resource"; nothing else may fail.
    assert all(urllib.parse.urlsplit(url).hostname != "127.0.0.1" for url in failed), failed
    others = [error for error in errors if not error.startswith("Failed to load resource")]
    assert others == [] and len(errors) - len(others) <= len(failed)


def test_search_finds_a_word_of_one_lesson_only(server, browser):
    page = browser.new_page()
    page.goto(f"{server}/search.html?q=unraveled")
    page.wait_for_selector("#search-results li", timeout=20000)
    found = page.locator("#search-results li a").evaluate_all(
        "links => links.map(link => link.getAttribute('href'))")
    lessons = {link.split("/")[-1].split(".html")[0] for link in found
               if link.startswith("notebooks/0") or "/notebooks/0" in link}
    assert lessons == {"09_what_resnets_learn"}, found


def test_a_screenshot_of_a_lesson_page_for_a_person_to_look_at(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/notebooks/04_resnet50.html")
    toc = page.locator("#pst-page-toc-nav a").all_inner_texts()
    assert "Going further: the stem" in toc and not any("SOLUTION" in t for t in toc)
    shot = ROOT / "build" / "book-screenshot.png"
    shot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
