"""The static site of the executed tutorial (``tools/site/build.py``, ``make site``).

Fast tests build a site from small notebooks made here and from the repository's chapters as
stored (no kernel): pages, titles, navigation, the student and instructor builds, front matter
and glossary, widgets stripped, markdown images embedded, and the checks without a browser
(raw TeX such as notebook 02's broken bullet, alt texts, links out of the site, nothing remote).
The slow tests build the site from the fast-mode tutorial runs (``tutorial_runs``) and open
every page in headless Chromium: Debian's ``chromium`` driven by Playwright (PyPI), never a
browser that Playwright downloads. Every request to anything but a local file is blocked and
counts as a failure, as does any failed request, a JavaScript error, math that MathJax did not
typeset (raw ``$…$`` left in the text, a TeX error) and an image that does not load.
Screenshots of every page (its top and its first figure) go to ``$CLRIC_SITE_SHOTS`` (default:
the test's tmp_path), to be looked at.

Without ``chromium`` the browser tests are skipped on a developer machine and fail in CI
(``CI`` set): .ci/run installs it.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILDER = REPO_ROOT / "tools" / "site" / "build.py"


def load_builder():
    """tools/site/build.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("clric_site_build", BUILDER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


site_build = load_builder()


def png_base64(width: int = 12, height: int = 8) -> str:
    """A small PNG, base64-encoded as notebooks store it."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def make_notebooks(folder: Path, source: Path) -> None:
    """Three tiny 'executed' notebooks in ``folder``; ``source`` gets the markdown's image."""
    folder.mkdir(parents=True, exist_ok=True)
    source.mkdir(parents=True, exist_ok=True)
    (source / "diagram.png").write_bytes(base64.b64decode(png_base64(20, 10)))
    widget = "application/vnd.jupyter.widget-view+json"
    first = new_notebook(cells=[
        new_markdown_cell("# 1 · Latents: $\\hat y$ and `code`\n\nThe loss is $\\lambda R$. It "
                          "has two parts:\n\n$$\nL = D + \\lambda R\n$$\n\n"
                          "![a diagram](diagram.png)"),
        new_code_cell("show()", outputs=[
            new_output("display_data", data={"image/png": png_base64(), "text/plain": "<Fig>"}),
            new_output("display_data", data={widget: {"model_id": "a"},
                                             "text/plain": "fit:  10%|█ | 12/120"}),
            new_output("display_data", data={widget: {"model_id": "b"},
                                             "text/plain": "VBox(children=(IntSlider(),))"}),
        ]),
    ])
    first.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    second = new_notebook(cells=[
        new_markdown_cell("# 2 · Decoding\n\nBits in, $\\hat y$ out.\n\n## Exercises\n\n"
                          "[one](solutions/01_latents_solution.ipynb), "
                          "[two](solutions/02_decoding_solutions.ipynb)"),
        new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="1\n")]),
    ])
    third = new_notebook(cells=[new_code_cell("x = 1")])  # no heading: title from the name
    for name, nb in (("01_latents", first), ("02_decoding", second), ("03_no_title", third)):
        nbformat.write(nb, folder / f"{name}.ipynb")


@pytest.fixture
def small_site(tmp_path: Path) -> Path:
    """A site built from make_notebooks() plus one solution notebook."""
    make_notebooks(tmp_path / "executed", tmp_path / "source")
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Solution 1\n\nDone.")]),
                   solutions / "01_latents_solution.ipynb")
    out = tmp_path / "site"
    site_build.build_site(tmp_path / "executed", out, solutions, tmp_path / "source")
    return out


def test_pages_titles_and_navigation(small_site: Path):
    index = (small_site / "index.html").read_text(encoding="utf-8")
    assert "1 · Latents: $\\hat y$ and <code>code</code>" in index
    assert "03 no title" in index
    assert "<h2>Chapters</h2>" in index and "<h2>Solutions</h2>" in index
    assert 'href="solutions/01_latents_solution.html"' in index
    # whole sentences only: the first paragraph stops before the equation it leads into
    assert "The loss is $\\lambda R$.</p>" in index and "two parts" not in index
    first = (small_site / "01_latents.html").read_text(encoding="utf-8")
    assert "<title>1 · Latents: ŷ and code</title>" in first
    assert 'href="index.html"' in first and 'href="02_decoding.html"' in first
    solution = (small_site / "solutions" / "01_latents_solution.html").read_text("utf-8")
    assert 'href="../index.html"' in solution and 'src="../mathjax/' in solution
    assert (small_site / "mathjax" / site_build.MATHJAX_ENTRY).is_file()
    assert (small_site / "site.css").is_file()


def test_links_to_solutions_in_the_instructor_and_student_builds(small_site: Path,
                                                                 tmp_path: Path):
    """Instructor build: a solution the site has is linked as its page, one it lacks becomes a
    note. Student build: no solution and no link to one, only a note. Never a ``.ipynb``."""
    page = (small_site / "02_decoding.html").read_text(encoding="utf-8")
    assert 'href="solutions/01_latents_solution.html"' in page
    assert "this solution is not in this build" in page
    make_notebooks(tmp_path / "executed", tmp_path / "source")
    student = tmp_path / "student"
    site_build.build_site(tmp_path / "executed", student, None, tmp_path / "source")
    page = (student / "02_decoding.html").read_text(encoding="utf-8")
    assert page.count("the solutions are in the instructor build") == 2
    assert "solutions/" not in re.sub(r"<code>.*?</code>", "", page)
    assert not (student / "solutions").exists()
    index = (student / "index.html").read_text(encoding="utf-8")
    assert "<h2>Solutions</h2>" not in index and "Student build" in index
    for site in (small_site, student):
        for html_page in site.rglob("*.html"):
            assert ".ipynb" not in " ".join(re.findall(r'href="([^"]*)"', html_page.read_text(
                encoding="utf-8"))), html_page


def test_widgets_stripped_and_images_embedded(small_site: Path):
    first = (small_site / "01_latents.html").read_text(encoding="utf-8")
    assert "widget-view" not in first and "widget-state" not in first
    assert "VBox" not in first and "10%|" not in first
    assert first.count("clric-widget-note") == 1  # the slider, not the progress bar
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', first)
    assert len(sources) == 2 and all(src.startswith("data:image/png;base64,") for src in sources)


def test_no_remote_references(small_site: Path):
    for page in small_site.rglob("*.html"):
        assert site_build.remote_references(page.read_text(encoding="utf-8")) == [], page


def test_remote_reference_finder():
    found = site_build.remote_references(
        '<script src="https://cdn.example/x.js"></script><link rel="stylesheet" '
        'href="//fonts.example/css"><img src="http://x/y.png"><img srcset="a.png 1x, '
        'https://x/b.png 2x"><style>@import "https://x/s.css"; a{background:url(//x/i.png)}'
        '</style><div style="background: url(\'http://x/j.png\')"></div>'
        '<a href="https://arxiv.org/abs/2502.14937">paper</a><img src="data:image/png;base64,AA">'
        '<script src="mathjax/tex-svg-full.js"></script>')
    assert len(found) == 7, found


def test_refuses_an_empty_folder_and_a_foreign_out(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="make tutorial"):
        site_build.build_site(tmp_path / "empty", tmp_path / "site")
    make_notebooks(tmp_path / "executed", tmp_path / "source")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not written by this builder"):
        site_build.build_site(tmp_path / "executed", foreign)
    assert (foreign / "keep.txt").read_text() == "mine"
    site = tmp_path / "site"  # a rebuild empties its own folder
    site_build.build_site(tmp_path / "executed", site)
    (site / "stale.html").write_text("old")
    site_build.build_site(tmp_path / "executed", site)
    assert not (site / "stale.html").exists()


# ---------------------------------------------------------------------------------------------
# The site's checks, without a browser: raw TeX, alt texts, links

#: Notebook 02's bullet as it was (commit 22e1560 fixed it): the formula breaks across lines
#: and the second line starts with "+", which markdown reads as a nested bullet.
BROKEN_02_BULLET = (
    "* **What is logged is not what is optimised.** Adam minimises $\\mathrm{MSE}(y, \\hat y(s_T(z)"
    " + u))\n  + \\lambda R$ on *relaxed* grids; the curves show the\n  loss of "
    "$\\mathrm{round}(z)$, evaluated\n  every `check_every` iterations.\n")
FIXED_02_BULLET = (
    "* **What is logged is not what is optimised.** Adam minimises\n"
    "  $\\mathrm{MSE}(y, \\hat y(s_T(z) + u)) + \\lambda R$ on *relaxed* grids; the curves show "
    "the\n  loss of $\\mathrm{round}(z)$, evaluated\n  every `check_every` iterations.\n")


def one_chapter(folder: Path, markdown: str, code: str = "show()", images: int = 1) -> Path:
    """A one-chapter 'executed' tutorial in ``folder`` (markdown, then a code cell that drew
    ``images`` PNGs)."""
    folder.mkdir(parents=True, exist_ok=True)
    outputs = [new_output("display_data", data={"image/png": png_base64(), "text/plain": "<F>"})
               for _ in range(images)]
    nbformat.write(new_notebook(cells=[new_markdown_cell(markdown),
                                       new_code_cell(code, outputs=outputs)]),
                   folder / "02_overfitting.ipynb")
    return folder


def test_broken_02_bullet_fails_the_site_check_and_the_fixed_one_passes(tmp_path: Path):
    chapter = "# 2 · Overfitting\n\nThe loss, three things:\n\n"
    broken = one_chapter(tmp_path / "broken", chapter + BROKEN_02_BULLET)
    with pytest.raises(SystemExit, match="raw TeX") as failure:
        site_build.build_site(broken, tmp_path / "broken_site")
    message = str(failure.value)
    assert "'\\\\lambda'" in message and "'$'" in message and "'\\\\mathrm'" in message
    fixed = one_chapter(tmp_path / "fixed", chapter + FIXED_02_BULLET)
    site_build.build_site(fixed, tmp_path / "fixed_site")
    page = (tmp_path / "fixed_site" / "02_overfitting.html").read_text(encoding="utf-8")
    assert "$\\mathrm{MSE}(y, \\hat y(s_T(z) + u)) + \\lambda R$" in page


@pytest.mark.parametrize(("text", "raw"), [
    ("Adam minimises $\\lambda R$ and $$D + R$$, \\(a\\), \\[b\\]", []),
    ("costs \\$5, not $x$", []),
    ("\\begin{align}a &= b\\end{align} then $y$", []),
    ("\\lambda R$ on relaxed grids", ["\\lambda", "$"]),
    ("the loss of $\\mathrm{round}(z)", ["$", "\\mathrm"]),
    ("an unclosed \\(x", ["\\("]),
])
def test_raw_tex_in_one_text_node(text: str, raw: list[str]):
    found = site_build.raw_tex(text)
    assert [re.search(r"'(.*?)'", f).group(1).replace("\\\\", "\\") for f in found] == raw


def test_math_split_by_an_element_is_raw(tmp_path: Path):
    """MathJax does not pair delimiters across elements: neither does the check."""
    page = "<html><body><p>a $x <em>y</em> z$ b</p><pre>$ \\raw</pre></body></html>"
    problems = site_build.page_problems(page, tmp_path / "p.html", tmp_path)
    assert len(problems) == 2 and all("raw TeX '$'" in p for p in problems), problems


def test_output_images_get_alt_texts_from_the_figure(tmp_path: Path):
    markdown = ("# 2 · Overfitting\n\n## Training curves\n\nThe true loss of $\\hat y$ falls, "
                "then rises. More text.")
    code = "show(plot_history(h), out_dir)\nshow(plot_latent_comparison(y, y_hat))"
    site_build.build_site(one_chapter(tmp_path / "nb", markdown, code, images=2),
                          tmp_path / "site")
    page = (tmp_path / "site" / "02_overfitting.html").read_text(encoding="utf-8")
    alts = re.findall(r'<img alt="([^"]*)"', page)
    assert alts == [
        "Figure (history) 1 of 2, section “Training curves”: The true loss of ŷ falls, then rises.",
        "Figure (latent comparison) 2 of 2, section “Training curves”: The true loss of ŷ "
        "falls, then rises."]
    assert site_build.NO_ALT not in page
    code = "# alt: Loss, rate and MSE against the iteration\nshow(plot_history(h))"
    site_build.build_site(one_chapter(tmp_path / "nb2", markdown, code), tmp_path / "site2")
    page = (tmp_path / "site2" / "02_overfitting.html").read_text(encoding="utf-8")
    assert re.findall(r'<img alt="([^"]*)"', page) == [
        "Loss, rate and MSE against the iteration"]


def test_images_without_a_real_alt_text_fail(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "d.png").write_bytes(base64.b64decode(png_base64()))
    chapter = one_chapter(tmp_path / "nb", "# 2 · Overfitting\n\n![](d.png)", images=0)
    with pytest.raises(SystemExit, match="image without a real alt text"):
        site_build.build_site(chapter, tmp_path / "site", source_dir=source)
    problems = site_build.page_problems(
        f'<body><img alt="{site_build.NO_ALT}" src="x.png"><img src="y.png">'
        '<img alt="$\\hat y$" src="z.png"><img alt="A curve" src="w.png"></body>',
        tmp_path / "p.html", tmp_path)
    assert len(problems) == 3, problems


@pytest.mark.parametrize("link", [
    "[paper](https://arxiv.org/abs/2502.14937)", "[mail](mailto:a@b.c)",
    "[json](other_notebook.ipynb)", "[docs](../docs/codec.md)",
    "[gone](missing.html)", "[anchor](#No-such-heading)", "[glossary](glossary.md#No-such-term)",
])
def test_links_out_of_the_site_fail(tmp_path: Path, link: str):
    chapter = one_chapter(tmp_path / "nb", f"# 2 · Overfitting\n\nSee {link}.", images=0)
    with pytest.raises(SystemExit, match="link"):
        site_build.build_site(chapter, tmp_path / "site")


def test_links_inside_the_site_are_rewritten_and_pass(tmp_path: Path):
    folder = one_chapter(tmp_path / "nb", "# 2 · Overfitting\n\n## Loss\n\nSee [chapter 1]("
                         "01_latents.ipynb), [the loss](#Loss), the [STE](glossary.md#STE).",
                         images=0)
    nbformat.write(new_notebook(cells=[new_markdown_cell("# 1 · Latents")]),
                   folder / "01_latents.ipynb")
    site_build.build_site(folder, tmp_path / "site")
    page = (tmp_path / "site" / "02_overfitting.html").read_text(encoding="utf-8")
    assert 'href="01_latents.html"' in page and 'href="glossary.html#STE"' in page
    assert 'href="#Loss"' in page


def test_front_matter_on_the_index_and_the_glossary_page(tmp_path: Path):
    chapter = ("# 2 · Overfitting\n\n**Objectives.** After this chapter you can:\n\n"
               "* name the parts of $f_\\psi$;\n* explain the [STE](glossary.md#STE).\n\n"
               "**Prerequisites.** Chapter 1.\n\n**Time.** Not measured yet.\n\n"
               "CLRIC sends a function. It has four parts:")
    site = tmp_path / "site"
    site_build.build_site(one_chapter(tmp_path / "nb", chapter, images=0), site)
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "About this course" in index and 'href="glossary.html"' in index
    assert "<li>name the parts of $f_\\psi$;</li>" in index
    assert 'explain the <a href="glossary.html#STE">STE</a>.' in index
    assert "<strong>Prerequisites.</strong> Chapter 1." in index
    assert "<strong>Time.</strong> Not measured yet." in index
    assert "<p>CLRIC sends a function.</p>" in index  # the summary skips the front matter
    glossary = (site / "glossary.html").read_text(encoding="utf-8")
    for term in ("LPIPS", "DISTS", "MS-SSIM", "STE", "PCHIP", "MAC", "Cool-chic", "BD-rate",
                 "bpp", "PSNR", "C3", "ARM", "VAE", "TAEF2", "taef2-c4", "house-VAE"):
        assert f'id="{term}"' in glossary, term


@pytest.mark.parametrize("instructor", [False, True], ids=["student", "instructor"])
def test_the_course_itself_passes_the_checks(tmp_path: Path, instructor: bool):
    """The repository's chapters (stored without outputs) and, for the instructor build, their
    solutions: every page passes the checks; each chapter has its front matter and summary."""
    notebooks = REPO_ROOT / "notebooks"
    site = tmp_path / "site"
    site_build.build_site(notebooks, site, notebooks / "solutions" if instructor else None,
                          notebooks)
    chapters = sorted(notebooks.glob("0*.ipynb"))
    for path in chapters:
        page = site_build.read_page(path, "Chapters", "")
        assert 3 <= len(page.objectives_md) <= 5, path.name
        assert page.prerequisites_md and page.time_md, path.name
        cells = nbformat.read(path, as_version=4).cells
        assert cells[-2].cell_type == "markdown" and cells[-2].source.startswith("## Summary")
    assert (site / "solutions").is_dir() == instructor
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.count('class="clric-objectives"') == len(chapters)


# ---------------------------------------------------------------------------------------------
# In headless Chromium

#: Collects, after typesetting, what the checks need from a page.
PAGE_STATE_JS = r"""() => {
  const skip = "pre, code, script, style, textarea, mjx-container, .jp-InputArea";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const text = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest(skip)) text.push(node.textContent);
  }
  return {
    text: text.join(" "),
    math: document.querySelectorAll("mjx-container").length,
    mathErrors: (window.clricMathErrors || []).concat(
      [...document.querySelectorAll('[data-mml-node="merror"]')].map(e => e.textContent)),
    images: [...document.images].map(img => ({
      src: img.getAttribute("src").slice(0, 60), ok: img.complete && img.naturalWidth > 0})),
    nav: document.querySelectorAll("nav.clric-nav").length,
  };
}"""
#: Untypeset math in the visible text: $$, $ not followed by a digit (a price), \( \[ \begin{.
RAW_MATH = re.compile(r"\$(?!\d)|\\\(|\\\[|\\begin\{")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")


def chromium_executable() -> str:
    """Debian's chromium; skipped without it, except in CI, where it is a failure."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must have it (.ci/run installs it)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (the system's) through Playwright; no browser is ever downloaded."""
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed (dev extras)")
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def notebook_expectations(path: Path) -> tuple[bool, int]:
    """(has math in its markdown, number of image outputs that are not widgets)."""
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    markdown = re.sub(r"`[^`]*`", "", markdown)
    images = sum(1 for cell in nb.cells for output in cell.get("outputs", [])
                 if any(mime in output.get("data", {}) for mime in IMAGE_MIMES)
                 and not any(key.startswith(site_build.WIDGET_MIME) for key in output["data"]))
    return bool(re.search(r"(?<!\\)\$", markdown)), images


def check_site_in_browser(browser, site: Path, notebooks: Path, shots: Path | None = None):
    """Open index.html, every chapter and solution page from file:// and check each.

    Returns each page's state (PAGE_STATE_JS), by its path in the site.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    failed: list[str] = []
    context.on("requestfailed", lambda request: failed.append(
        f"{request.url[:120]} ({request.failure})"))

    def local_only(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            failed.append(f"{url[:120]} (not local: blocked)")
            route.abort()

    context.route("**/*", local_only)
    pages = [("index.html", None)] + [(f"{path.stem}.html", path)
                                      for path in sorted(notebooks.glob("*.ipynb"))]
    pages += [(path.name, None) for path in (site / "glossary.html",) if path.is_file()]
    pages += [(f"solutions/{path.name}", None) for path in sorted(site.glob("solutions/*.html"))]
    states = {}
    try:
        for name, notebook in pages:
            page = context.new_page()
            js_errors: list[str] = []
            page.on("pageerror", lambda error, errors=js_errors: errors.append(str(error)))
            failed.clear()
            page.goto((site / name).as_uri(), wait_until="load")
            page.wait_for_selector("html[data-mathjax=done]", state="attached", timeout=60_000)
            state = page.evaluate(PAGE_STATE_JS)
            states[name] = state
            where = f"{name}: "
            assert failed == [], where + f"failed requests {failed}"
            assert js_errors == [], where + f"JavaScript errors {js_errors}"
            assert state["mathErrors"] == [], where + f"TeX errors {state['mathErrors']}"
            raw = [state["text"][max(0, m.start() - 40):m.end() + 40]
                   for m in RAW_MATH.finditer(state["text"])]
            assert raw == [], where + f"math left untypeset: {raw[:5]}"
            broken = [image["src"] for image in state["images"] if not image["ok"]]
            assert broken == [], where + f"images that did not load: {broken}"
            if notebook is not None:
                has_math, n_images = notebook_expectations(notebook)
                assert state["nav"] == 2, where + "navigation bars above and below"
                assert not has_math or state["math"] > 0, where + "its equations are not typeset"
                assert len(state["images"]) >= n_images, where + (
                    f"{len(state['images'])} images shown, the notebook has {n_images}")
            if shots is not None:  # every page: its top and its first figure
                shots.mkdir(parents=True, exist_ok=True)
                stem = name.removesuffix(".html").replace("/", "_")
                page.screenshot(path=str(shots / f"{stem}_top.png"))
                figure = page.locator(".jp-OutputArea-output img").first
                if figure.count():
                    figure.scroll_into_view_if_needed()
                    page.screenshot(path=str(shots / f"{stem}_figure.png"))
            page.close()
    finally:
        context.close()
    return states


@pytest.mark.slow
def test_small_site_in_chromium(small_site: Path, tmp_path: Path, browser):
    states = check_site_in_browser(browser, small_site, tmp_path / "executed")
    assert states["01_latents.html"]["math"] == 3  # \hat y (title), \lambda R, the display
    assert len(states["01_latents.html"]["images"]) == 2  # the output and the markdown image
    assert states["index.html"]["math"] >= 3
    assert states["solutions/01_latents_solution.html"]["nav"] == 2


@pytest.fixture(scope="module")
def tutorial_site(tutorial_runs, tmp_path_factory) -> tuple[Path, Path]:
    """The site of the fast-mode tutorial runs, solutions included: (site folder, executed
    chapters)."""
    tutorial_runs.run_all(solutions=True)
    out = tmp_path_factory.mktemp("site") / "site"
    site_build.build_site(tutorial_runs.executed_dir, out, tutorial_runs.executed_dir / "solutions",
                          source_dir=REPO_ROOT / "notebooks")
    return out, tutorial_runs.executed_dir


@pytest.mark.slow
def test_tutorial_site_is_offline(tutorial_site):
    site, notebooks = tutorial_site
    pages = sorted(site.glob("*.html"))
    assert [page.stem for page in pages if page.stem not in ("index", "glossary")] == sorted(
        path.stem for path in notebooks.glob("*.ipynb"))
    assert (site / "glossary.html").is_file()
    for page in pages:
        assert site_build.remote_references(page.read_text(encoding="utf-8")) == [], page


@pytest.mark.slow
def test_tutorial_site_in_chromium(tutorial_site, browser, tmp_path: Path):
    site, notebooks = tutorial_site
    shots = Path(os.environ.get("CLRIC_SITE_SHOTS") or tmp_path / "shots")
    states = check_site_in_browser(browser, site, notebooks, shots)
    solutions = list((notebooks / "solutions").glob("*.ipynb"))
    assert len(solutions) == len(list(notebooks.glob("*.ipynb")))
    assert len(states) == 2 + 2 * len(solutions)  # index, glossary, chapters, solutions
    assert "glossary.html" in states
    shot_names = {path.name for path in shots.glob("*.png")}
    assert {f"{name.removesuffix('.html').replace('/', '_')}_top.png"
            for name in states} <= shot_names, "a screenshot of every page"
