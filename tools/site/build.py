"""Build the static, offline site of the executed tutorial notebooks (``make site``).

Every executed notebook of a folder (``build/`` by default, filled by ``make tutorial``) becomes
one HTML page, in name order, with its outputs and figures, plus an ``index.html`` that lists
the chapters (titles from each notebook's first ``# `` heading) and, with ``--solutions``, a
second section of solution notebooks in ``solutions/``.

Why nbconvert: it is already a dependency (Jupyter's own exporter, well kept), renders exactly
what JupyterLab shows, and its ``lab`` template ships with the package, so nothing is fetched at
build time. What is *not* offline in that template is replaced by ``templates/clric``: no
require.js, no widget manager, no mermaid from a CDN, and MathJax 3 from the copy that the
PyPI package ``django-static-mathjax`` installs, copied to ``<out>/mathjax/``. Outputs that only
a live kernel can show (ipywidgets) are removed before export. Output images are embedded
(base64) by the notebook itself; images that markdown cells reference by a relative path are
embedded too (``embed_images``, resolved from ``--source-dir``, where the notebooks run).

After writing, every page is scanned: a script, stylesheet, image, frame or CSS ``url()`` that
points to another host stops the build with an error (plain ``<a href>`` links are fine).

Usage::

    python tools/site/build.py [--notebooks build] [--out build/site] [--solutions DIR]
    xdg-open build/site/index.html      # or: python -m http.server -d build/site
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors import Preprocessor

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
REPO_ROOT = HERE.parents[1]
#: Marks a folder written by this builder, so that a rebuild may empty it first.
MARKER = ".clric-site"
#: The MathJax file every page loads (inside MathJax's es5/ folder).
MATHJAX_ENTRY = "tex-svg-full.js"
SITE_TITLE = "CLRIC tutorial"
LEAD = (
    "<em>Compact Latent Representation for Image Compression</em>, step by step: the "
    "tutorial notebooks of the CLRIC companion, executed, with their outputs and figures."
)
WIDGET_MIME = "application/vnd.jupyter.widget-"
WIDGET_NOTE = (
    '<p class="clric-widget-note"><em>An interactive widget was here: run this notebook in '
    "JupyterLab to use it (the static site shows only what a notebook prints and draws).</em></p>"
)


class StaticOutputs(Preprocessor):
    """Drop what needs a live kernel: ipywidgets outputs and the saved widget state.

    A progress bar (a widget whose text fallback looks like tqdm's ``12%|``) simply disappears;
    any other widget leaves one short note in its cell, so that a reader knows something
    interactive (e.g. notebook 06's slider, when run with ``interactive = True``) was there.
    """

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") != "code":
            return cell, resources
        kept, noted = [], False
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if not any(key.startswith(WIDGET_MIME) for key in data):
                kept.append(output)
                continue
            text = data.get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            if not re.search(r"\d+%\|", text) and not noted:
                kept.append(nbformat.v4.new_output(
                    "display_data", data={"text/html": WIDGET_NOTE, "text/plain": ""}))
                noted = True
        cell.outputs = kept
        return cell, resources


@dataclass
class Page:
    """One notebook of the site."""

    source: Path
    href: str  # relative to the site's root
    section: str
    title_md: str
    summary_md: str = ""
    errors: bool = False
    nb: nbformat.NotebookNode | None = field(default=None, repr=False)

    @property
    def title_html(self) -> str:
        return inline_markdown(self.title_md)

    @property
    def title_text(self) -> str:
        return plain_text(self.title_md)

    @property
    def summary_html(self) -> str:
        return markdown2html_mistune(self.summary_md) if self.summary_md else ""


def inline_markdown(text: str) -> str:
    """HTML of a one-line markdown title: escaped, `code` spans; $…$ is left to MathJax."""
    escaped = html.escape(text, quote=False)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


_GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho "
          "sigma tau upsilon phi chi psi omega").split()
_TEX_SYMBOLS = dict(zip(_GREEK, "αβγδεζηθικλμνξπρστυφχψω", strict=True))
_TEX_SYMBOLS.update({"cdot": "·", "times": "×", "to": "→", "approx": "≈", "le": "≤", "ge": "≥"})
_TEX_ACCENTS = {"hat": "\u0302", "tilde": "\u0303", "bar": "\u0304"}


def plain_text(text: str) -> str:
    """A markdown title as plain text for ``<title>``: simple TeX as Unicode, no markup.

    ``$\\hat y$`` becomes ``ŷ``, ``$f_\\psi$`` ``fψ``; unknown commands are dropped.
    """

    def symbol(command: str) -> str:
        return _TEX_SYMBOLS.get(command[1:], "") if command.startswith("\\") else command

    def math(match: re.Match) -> str:
        tex = re.sub(r"\\(hat|tilde|bar)\s*\{?\s*(\\[A-Za-z]+|[A-Za-z])\s*\}?",
                     lambda m: symbol(m.group(2)) + _TEX_ACCENTS[m.group(1)], match.group(1))
        tex = re.sub(r"\\[A-Za-z]+", lambda m: symbol(m.group(0)), tex)
        return re.sub(r"[{}_^]", "", tex).strip()

    text = re.sub(r"\$([^$]+)\$", math, text)
    text = re.sub(r"\s+", " ", text.replace("`", "").replace("*", "")).strip()
    return unicodedata.normalize("NFC", text)


def first_sentences(paragraph: str) -> str:
    """The whole sentences of a notebook's first paragraph, for the index.

    A paragraph that runs on into an equation or a list ("… the optimisation of", "… has four
    parts:") is cut after its last full stop; with none, a trailing colon becomes a full stop.
    Math ($…$) and code spans are masked first so that their dots do not count.
    """
    text = paragraph.strip()
    masked = re.sub(r"\$[^$]*\$|`[^`]*`", lambda m: "X" * len(m.group(0)), text)
    if re.search(r"[.!?][)*_]*$", masked):
        return text
    ends = [m.end() for m in re.finditer(r"[.!?][)*_]*(?=\s+[A-Z(*_`$])", masked)]
    if ends:
        return text[:ends[-1]]
    return text[:-1] + "." if text.endswith(":") else text


def read_page(path: Path, section: str, prefix: str) -> Page:
    """Read an executed notebook: its title (first ``# `` heading) and first paragraph."""
    nb = nbformat.read(path, as_version=4)
    title, summary = "", ""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        heading = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
        if heading is None:
            continue
        title = lines[heading][2:].strip()
        rest = "\n".join(lines[heading + 1:]).strip()
        summary = first_sentences(re.split(r"\n\s*\n", rest, maxsplit=1)[0]) if rest else ""
        break
    errors = any(output.get("output_type") == "error"
                 for cell in nb.cells for output in cell.get("outputs", []))
    return Page(source=path, href=f"{prefix}{path.stem}.html", section=section,
                title_md=title or path.stem.replace("_", " "), summary_md=summary,
                errors=errors, nb=nb)


def navigation(pages: list[Page], index: int, root: str) -> dict:
    """What templates/clric/clric_nav.html.j2 shows for ``pages[index]`` (links relative to it)."""

    def link(page: Page) -> dict:
        return {"href": root + page.href, "title_html": page.title_html}

    return {
        "root": root,
        "site_title": SITE_TITLE,
        "section": pages[index].section,
        "position": index + 1,
        "count": len(pages),
        "prev": link(pages[index - 1]) if index > 0 else None,
        "next": link(pages[index + 1]) if index + 1 < len(pages) else None,
    }


def make_exporter() -> HTMLExporter:
    """nbconvert's HTML exporter with the offline ``clric`` template."""
    exporter = HTMLExporter(
        template_name="clric",
        extra_template_basedirs=[str(TEMPLATES)],
        embed_images=True,
        # Not used by the clric template; set so that nothing falls back to a CDN.
        mathjax_url=f"mathjax/{MATHJAX_ENTRY}",
        require_js_url="",
        jupyter_widgets_base_url="",
    )
    exporter.register_preprocessor(StaticOutputs(), enabled=True)
    return exporter


def mathjax_source() -> Path:
    """MathJax 3's ``es5/`` folder, as PyPI's ``django-static-mathjax`` installs it.

    That package is MathJax's release as static files (no Django needed to use them). It was
    chosen over ``jupyter-server-mathjax`` (MathJax 2.7, trimmed to one combined configuration
    with the HTML-CSS output): HTML-CSS needs web fonts, asks for TeX fonts that bundle lacks
    and probes fonts with ``url(about:blank)``, all failed requests in the browser test.
    """
    try:
        import mathjax
    except ImportError as error:
        raise SystemExit("site: the bundled MathJax is missing; install the project's dev "
                         "extras (pip install -e '.[dev]', package django-static-mathjax)"
                         ) from error
    es5 = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
    if not (es5 / MATHJAX_ENTRY).is_file():
        raise SystemExit(f"site: no {MATHJAX_ENTRY} in {es5}")
    return es5


def copy_mathjax(es5: Path, target: Path) -> None:
    """Copy MathJax for the site: the one combined file the pages load, plus the components
    its menu may load on request; the other combined files and the CHTML web fonts are left
    out (about 9 MB instead of 24)."""

    def skip(folder: str, names: list[str]) -> set[str]:
        if Path(folder) == es5:
            return {name for name in names if name.endswith(".js") and name != MATHJAX_ENTRY}
        if Path(folder) == es5 / "output":
            return {"chtml", "chtml.js"}
        return set()

    shutil.copytree(es5, target, ignore=skip)
    licence = es5.parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, target / "LICENSE")


def mathjax_version(es5: Path) -> str:
    """MathJax's version, from its package.json."""
    try:
        return json.loads((es5.parent / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return "3"


# ---------------------------------------------------------------------------------------------
# Offline check

REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(
    r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:[a-z][a-z0-9+.-]*:)?//[^'")\s]*)""", re.IGNORECASE)
#: Attributes through which a page *loads* something (an <a href> is only a link).
LOADING_ATTRIBUTES = {
    "script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",),
    "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",),
    "embed": ("src",), "object": ("data",), "track": ("src",), "input": ("src",),
    "image": ("href", "xlink:href"), "use": ("href", "xlink:href"),
}


class _RemoteFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name in LOADING_ATTRIBUTES.get(tag, ()):
                urls = [part.split()[0] for part in value.split(",") if part.strip()] \
                    if name == "srcset" else [value]
                self.found += [f"<{tag} {name}={url}>" for url in urls if REMOTE.match(url)]
            elif name == "style":
                self.found += [f"<{tag} style> {url}" for url in CSS_REMOTE.findall(value)]

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found += [f"<style> {url}" for url in CSS_REMOTE.findall(data)]


def remote_references(page_html: str) -> list[str]:
    """Everything a page would load from another host (scripts, styles, images, fonts, …)."""
    finder = _RemoteFinder()
    finder.feed(page_html)
    finder.close()
    return finder.found


# ---------------------------------------------------------------------------------------------
# Build


#: A chapter's link to its solutions notebook (``solutions/<name>.ipynb`` in the markdown).
SOLUTION_LINK = re.compile(r'href="solutions/([\w.-]+)\.ipynb"')


def link_solutions(body: str, out: Path, pages: set[str], notebooks_source: Path) -> str:
    """Point a chapter's links to ``solutions/<name>.ipynb`` at the solution's page when the
    site has it, else at the notebook itself in the repository (relative to the site)."""
    def target(match: re.Match) -> str:
        name = match.group(1)
        if name in pages:
            return f'href="solutions/{name}.html"'
        source = notebooks_source / "solutions" / f"{name}.ipynb"
        return f'href="{Path(os.path.relpath(source, out)).as_posix()}"'

    return SOLUTION_LINK.sub(target, body)


def prepare_out(out: Path) -> None:
    """Create ``out``, or empty it if this builder wrote it (refuse any other non-empty folder)."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise SystemExit(f"site: {out} is not empty and was not written by this builder; "
                             "choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by tools/site/build.py; emptied on each build\n")


def build_site(notebooks: Path, out: Path, solutions: Path | None = None,
               source_dir: Path | None = None) -> list[Path]:
    """Build the site into ``out``; return the HTML files written (index first).

    ``source_dir`` is where relative paths of markdown images are resolved (the folder the
    notebooks ran from); by default the folder of each executed notebook.
    """
    sections = [("Chapters", sorted(notebooks.glob("*.ipynb")), "")]
    if solutions is not None:
        sections.append(("Solutions", sorted(solutions.glob("*.ipynb")), "solutions/"))
    if not sections[0][1]:
        raise SystemExit(f"site: no executed notebooks in {notebooks}/: run `make tutorial` "
                         "first (or pass --notebooks)")
    prepare_out(out)
    mathjax = mathjax_source()
    copy_mathjax(mathjax, out / "mathjax")
    shutil.copy2(TEMPLATES / "site.css", out / "site.css")

    exporter = make_exporter()
    solution_pages = {path.stem for path in sections[1][1]} if solutions is not None else set()
    written = [out / "index.html"]
    listed = []
    for name, paths, prefix in sections:
        pages = [read_page(path, name, prefix) for path in paths]
        listed.append({"name": name, "pages": pages})
        root = "../" * prefix.count("/")
        for index, page in enumerate(pages):
            if page.errors:
                print(f"site: warning: {page.source.name} has error outputs", file=sys.stderr)
            resources = {
                "metadata": {"name": page.title_text,
                             "path": str(source_dir or page.source.parent)},
                "clric": navigation(pages, index, root),
            }
            body, _ = exporter.from_notebook_node(page.nb, resources=resources)
            if not prefix:  # a chapter: its exercises link to their solutions
                body = link_solutions(body, out, solution_pages,
                                      source_dir or REPO_ROOT / "notebooks")
            target = out / page.href
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            written.append(target)

    env = jinja2.Environment(loader=jinja2.FileSystemLoader([TEMPLATES, TEMPLATES / "clric"]),
                             autoescape=False, keep_trailing_newline=True)
    index_html = env.get_template("home.html.j2").render(
        site_title=SITE_TITLE, lead_html=LEAD, sections=[s for s in listed if s["pages"]],
        mathjax_version=mathjax_version(mathjax), resources={"clric": {"root": ""}})
    (out / "index.html").write_text(index_html, encoding="utf-8")

    problems = [f"{path.relative_to(out)}: {ref}" for path in written
                for ref in remote_references(path.read_text(encoding="utf-8"))]
    if problems:
        raise SystemExit("site: pages would load from the network:\n  " + "\n  ".join(problems))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=REPO_ROOT / "build",
                        help="folder of executed notebooks (default: build/)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "site",
                        help="output folder, emptied first (default: build/site/)")
    parser.add_argument("--solutions", type=Path, default=None,
                        help="optional folder of executed solution notebooks (own section)")
    parser.add_argument("--source-dir", type=Path, default=REPO_ROOT / "notebooks",
                        help="folder the notebooks ran from, for markdown images with relative "
                             "paths (default: notebooks/)")
    args = parser.parse_args(argv)
    if args.solutions is not None and not args.solutions.is_dir():
        parser.error(f"--solutions {args.solutions}: no such folder")
    written = build_site(args.notebooks, args.out, args.solutions, args.source_dir)
    print(f"site: {len(written) - 1} page(s) and index.html in {args.out}/ "
          f"(open {args.out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
