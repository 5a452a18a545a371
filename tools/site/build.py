"""Build the static, offline site of the executed tutorial notebooks (``make site``).

Every executed notebook of a folder (``build/`` by default, filled by ``make tutorial``) becomes
one HTML page, in name order, with its outputs and figures, plus an ``index.html`` with the
course's front matter (``course.md`` beside this script: what the course is, prerequisites)
and the chapters (titles from each notebook's first ``# `` heading, with the objectives and
time of its front matter), and ``glossary.html`` from ``notebooks/glossary.md``. With
``--solutions`` (the *instructor* build, ``make site-instructor``) the executed solution
notebooks form a second section in ``solutions/`` and the chapters link to them; without it
(the *student* build, ``make site``) the site holds no solution and each chapter's link to one
becomes a plain note.

Why nbconvert: it is already a dependency (Jupyter's own exporter, well kept), renders exactly
what JupyterLab shows, and its ``lab`` template ships with the package, so nothing is fetched at
build time. What is *not* offline in that template is replaced by ``templates/clric``: no
require.js, no widget manager, no mermaid from a CDN, and MathJax 3 from the copy that the
PyPI package ``django-static-mathjax`` installs, copied to ``<out>/mathjax/``. Outputs that only
a live kernel can show (ipywidgets) are removed before export. Output images are embedded
(base64) by the notebook itself, each with an alt text made from the figure (``AltTexts``);
images that markdown cells reference by a relative path are embedded too (``embed_images``,
resolved from ``--source-dir``, where the notebooks run).

After writing, every page is checked without a browser (``page_problems``), and any problem
stops the build with an error: a script, stylesheet, image, frame or CSS ``url()`` that points
to another host; raw TeX in the visible text (a control word such as ``\\lambda`` or a ``$``
that MathJax will not pair, as a markdown line starting with ``+`` inside a bullet leaves);
an image without a real alt text; a link that leaves the site (another host, a notebook's
JSON, a file or anchor the site does not have).

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


#: nbconvert's placeholder for an image without alt text: never acceptable on this site.
NO_ALT = "No description has been provided for this image"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: An explicit alt text in a code cell, one comment line per image it draws, in order.
ALT_COMMENT = re.compile(r"^\s*#\s*alt:\s*(.+?)\s*$", re.MULTILINE)


def markdown_context(source: str) -> tuple[str | None, str]:
    """(last heading, first sentence of the first paragraph that is not a heading) of a
    markdown cell, as plain text."""
    heading, sentence = None, ""
    for paragraph in re.split(r"\n\s*\n", source):
        lines = [line for line in paragraph.strip().splitlines() if line.strip()]
        while lines and lines[0].startswith("#"):
            heading = lines.pop(0).lstrip("#").strip()
        if lines and not sentence and not lines[0].lstrip().startswith(("$$", "|", "```")):
            sentence = first_sentence(" ".join(lines))
    return (plain_text(heading) if heading else None), plain_text(sentence)


def first_sentence(text: str) -> str:
    """The first sentence of a markdown paragraph (math and code spans masked), ≤ 200
    characters."""
    masked = re.sub(r"\$[^$]*\$|`[^`]*`", lambda m: "X" * len(m.group(0)), text)
    end = re.search(r"[.!?:][)*_]*(?=\s|$)", masked)
    sentence = text[:end.end()] if end else text
    sentence = re.sub(r"\$\$.*", "", sentence).strip()  # a display equation does not fit
    return sentence if len(sentence) <= 200 else sentence[:197].rsplit(" ", 1)[0] + " …"


class AltTexts(Preprocessor):
    """Give every image output an alt text made from the figure (docs/site.md, "Alt texts").

    In order of preference: a ``# alt: …`` comment in the code cell (the k-th comment for the
    k-th image), an ``alt`` in the output's metadata, else the kind of figure (the name of the
    cell's k-th ``plot_*`` call: ``plot_latent_channels`` gives "latent channels"), the section
    it belongs to (the nearest markdown heading above it) and the first sentence of the nearest
    markdown cell above it, which introduces what the figure shows. Stored in
    ``output.metadata["clric_alt"]``, written by the ``clric`` template.
    """

    def preprocess(self, nb, resources):
        heading, sentence = None, ""
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell_heading, cell_sentence = markdown_context(cell.source)
                heading = cell_heading or heading
                sentence = cell_sentence or sentence
            elif cell.cell_type == "code":
                self.describe(cell, heading, sentence)
        return nb, resources

    @staticmethod
    def describe(cell, heading: str | None, sentence: str) -> None:
        images = [output for output in cell.get("outputs", [])
                  if any(mime in output.get("data", {}) for mime in IMAGE_MIMES)]
        comments = ALT_COMMENT.findall(cell.source)
        kinds = [name[len("plot_"):].replace("_", " ")
                 for name in re.findall(r"\b(plot_\w+)\s*\(", cell.source)]
        for k, output in enumerate(images):
            metadata = output.setdefault("metadata", {})
            explicit = comments[k] if k < len(comments) else metadata.get("alt")
            if explicit:
                metadata["clric_alt"] = plain_text(str(explicit))
                continue
            kind = kinds[k] if k < len(kinds) else (kinds[-1] if kinds else "")
            text = f"Figure ({kind})" if kind else "Figure"
            if len(images) > 1:
                text += f" {k + 1} of {len(images)}"
            if heading:
                text += f", section “{heading}”"
            metadata["clric_alt"] = f"{text}: {sentence}" if sentence else text + "."


@dataclass
class Page:
    """One notebook of the site."""

    source: Path
    href: str  # relative to the site's root
    section: str
    title_md: str
    summary_md: str = ""
    objectives_md: list[str] = field(default_factory=list)
    prerequisites_md: str = ""
    time_md: str = ""
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

    @property
    def objectives_html(self) -> list[str]:
        return [inline_html(item) for item in self.objectives_md]

    @property
    def prerequisites_html(self) -> str:
        return inline_html(self.prerequisites_md) if self.prerequisites_md else ""

    @property
    def time_html(self) -> str:
        return inline_html(self.time_md) if self.time_md else ""


def inline_html(text: str) -> str:
    """One markdown paragraph as inline HTML (no ``<p>``), math left to MathJax."""
    rendered = markdown2html_mistune(text).strip()
    return re.sub(r"^<p>(.*)</p>$", r"\1", rendered, flags=re.DOTALL)


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
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"\\[A-Za-z]+|[$\\]", "", text)  # what unpaired math leaves
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


#: The front matter of a chapter: paragraphs of its first markdown cell that start with these
#: bold labels (docs/site.md); the objectives are the list items under the first.
FRONT_MATTER = re.compile(r"^\*\*(Objectives|Prerequisites|Time)\b[^*]*\*\*\s*", re.MULTILINE)


def front_matter(body: str) -> tuple[dict[str, str], str]:
    """Split the text under a chapter's title into its front matter (label: markdown) and
    the rest."""
    found: dict[str, str] = {}
    rest = []
    label = None
    for paragraph in re.split(r"\n\s*\n", body):
        match = FRONT_MATTER.match(paragraph.lstrip())
        if match:
            label = match.group(1)
            found[label] = paragraph.lstrip()[match.end():].strip()
        elif label == "Objectives" and re.match(r"\s*[*-] ", paragraph):
            found[label] += "\n" + paragraph.strip()  # the list after a blank line
        else:
            label = None
            rest.append(paragraph)
    return found, "\n\n".join(rest).strip()


def list_items(markdown: str) -> list[str]:
    """The items of the bullet list in ``markdown`` (continuation lines joined)."""
    items: list[str] = []
    for line in markdown.splitlines():
        if re.match(r"\s*[*-] ", line):
            items.append(line.strip()[2:].strip())
        elif items and line.strip():
            items[-1] += " " + line.strip()
    return items


def read_page(path: Path, section: str, prefix: str) -> Page:
    """Read an executed notebook: its title (first ``# `` heading), front matter and first
    paragraph."""
    nb = nbformat.read(path, as_version=4)
    title, summary, matter = "", "", {}
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        heading = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
        if heading is None:
            continue
        title = lines[heading][2:].strip()
        matter, rest = front_matter("\n".join(lines[heading + 1:]).strip())
        summary = first_sentences(re.split(r"\n\s*\n", rest, maxsplit=1)[0]) if rest else ""
        break
    errors = any(output.get("output_type") == "error"
                 for cell in nb.cells for output in cell.get("outputs", []))
    return Page(source=path, href=f"{prefix}{path.stem}.html", section=section,
                title_md=title or path.stem.replace("_", " "), summary_md=summary,
                objectives_md=list_items(matter.get("Objectives", "")),
                prerequisites_md=matter.get("Prerequisites", ""),
                time_md=matter.get("Time", ""), errors=errors, nb=nb)


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
    exporter.register_preprocessor(AltTexts(), enabled=True)
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


#: An ``<a>`` element of a page (links do not nest, so the first ``</a>`` closes it).
A_ELEMENT = re.compile(r"<a\s([^>]*)>(.*?)</a>", re.DOTALL | re.IGNORECASE)
HREF = re.compile(r"""\bhref=(["'])(.*?)\1""", re.DOTALL | re.IGNORECASE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:|^/", re.IGNORECASE)
SOLUTION_NOTE = ('<span class="clric-solution-note">the solutions are in the instructor build of '
                 "this site (<code>make site-instructor</code>)</span>")
MISSING_SOLUTION_NOTE = ('<span class="clric-solution-note">this solution is not in this build '
                         "(<code>make solutions</code>, then <code>make site-instructor</code>)"
                         "</span>")


def rewrite_links(body: str, page_dir: str, site_map: dict[str, str], instructor: bool) -> str:
    """Point a page's links to the notebooks and files the site has at their pages.

    ``site_map`` maps paths in the source tree (relative to ``notebooks/``: ``02_x.ipynb``,
    ``solutions/02_x_solutions.ipynb``, ``glossary.md``) to the site's pages; ``page_dir`` is
    the page's folder in both (``""`` or ``"solutions/"``). A link to a solutions notebook
    the site lacks becomes a note (the student build has none); any other link is left as it
    is, for ``page_problems`` to judge.
    """

    def element(match: re.Match) -> str:
        attributes, text = match.group(1), match.group(2)
        href = HREF.search(attributes)
        if href is None or SCHEME.match(href.group(2)) or href.group(2).startswith("#"):
            return match.group(0)
        url = html.unescape(href.group(2))
        path, _, fragment = url.partition("#")
        source = os.path.normpath(os.path.join(page_dir, path)).replace(os.sep, "/")
        if source in site_map:
            target = os.path.relpath(site_map[source], page_dir or ".").replace(os.sep, "/")
            target += f"#{fragment}" if fragment else ""
            return (f"<a {attributes[:href.start()]}href=\"{html.escape(target)}\""
                    f"{attributes[href.end():]}>{text}</a>")
        if re.fullmatch(r"solutions/[^/]+\.ipynb", source):
            return MISSING_SOLUTION_NOTE if instructor else SOLUTION_NOTE
        return match.group(0)

    return A_ELEMENT.sub(element, body)


# ---------------------------------------------------------------------------------------------
# What a reader sees: checked without a browser

#: Elements whose text MathJax does not typeset and a reader does not read as prose (MathJax's
#: own skipHtmlTags, plus the document's head).
SKIPPED_TEXT = {"script", "noscript", "style", "textarea", "pre", "code", "annotation",
                "annotation-xml", "head", "title", "svg", "math", "kbd", "samp"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr"}
#: Math as MathJax finds it in one text node (the delimiters of clric_mathjax.html.j2, with
#: processEscapes and processEnvironments): an escaped dollar, $$…$$, \[…\], \(…\),
#: \begin{env}…\end{env}, $…$.
MATH = re.compile(r"\\\$|\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)"
                  r"|\\begin\{([A-Za-z]+\*?)\}.*?\\end\{\1\}|\$(?:\\.|[^$\\])+\$", re.DOTALL)
TEX_WORD = re.compile(r"\\[A-Za-z]+")
#: Alt texts that say nothing.
EMPTY_ALTS = {"", "image", "figure", "png", "img", "picture", NO_ALT.lower()}


class _PageScanner(HTMLParser):
    """Collects a page's text nodes (outside SKIPPED_TEXT), images, links and ids."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self._open: list[str] = []
        self._skipping = 0
        self._text: list[str] = []

    def _flush(self) -> None:
        if self._text:
            self.texts.append("".join(self._text))
            self._text = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if attributes.get("name") and tag == "a":
            self.ids.add(attributes["name"])
        if tag == "img":
            self.images.append(attributes)
        if tag == "a" and attributes.get("href") is not None:
            self.links.append(attributes["href"])
        if tag in ("br", "wbr"):  # MathJax reads across these (includeHtmlTags)
            return
        self._flush()
        if tag not in VOID:
            self._open.append(tag)
            self._skipping += tag in SKIPPED_TEXT

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        self._flush()
        if tag in self._open:
            while self._open:
                closed = self._open.pop()
                self._skipping -= closed in SKIPPED_TEXT
                if closed == tag:
                    break

    def handle_data(self, data):
        if not self._skipping:
            self._text.append(data)

    def close(self):
        super().close()
        self._flush()


def scan_page(page_html: str) -> _PageScanner:
    scanner = _PageScanner()
    scanner.feed(page_html)
    scanner.close()
    return scanner


def raw_tex(text: str) -> list[str]:
    """What MathJax would leave as raw TeX in one text node: control words and ``$`` outside
    the math it typesets (each with some context)."""
    outside = MATH.sub(lambda m: " " * len(m.group(0)), text)
    found = []
    for match in re.finditer(r"\\[A-Za-z]+|\$|\\[(\[]", outside):
        snippet = re.sub(r"\s+", " ", text[max(0, match.start() - 30):match.end() + 30])
        found.append(f"raw TeX {match.group(0)!r} in the text: …{snippet.strip()}…")
    return found


def page_problems(page_html: str, page: Path, site: Path,
                  ids_of: dict[Path, set[str]] | None = None) -> list[str]:
    """Everything a reader of ``page`` (a file of the site ``site``) would find broken, without
    a browser: remote resources, raw TeX in the visible text, images without a real alt text,
    links out of the site (another host, a scheme, a notebook's JSON, a file the site lacks,
    an anchor its page lacks)."""
    problems = [f"loads from the network: {ref}" for ref in remote_references(page_html)]
    scanner = scan_page(page_html)
    for text in scanner.texts:
        problems += raw_tex(text)
    for image in scanner.images:
        alt = (image.get("alt") or "").strip()
        src = (image.get("src") or "")[:40]
        if alt.lower().rstrip(".") in EMPTY_ALTS:
            problems.append(f"image without a real alt text ({alt!r}): {src}")
        elif raw_tex(alt) or TEX_WORD.search(alt):
            problems.append(f"image whose alt text holds TeX ({alt!r}): {src}")
    ids_of = {} if ids_of is None else ids_of
    ids_of[page.resolve()] = scanner.ids
    for href in scanner.links:
        problems += link_problems(href, page, site, ids_of)
    return problems


def link_problems(href: str, page: Path, site: Path, ids_of: dict[Path, set[str]]) -> list[str]:
    """Why ``href`` on ``page`` leaves the site or leads nowhere ([] when it is fine).

    ``ids_of`` holds the ids of the pages scanned so far (by resolved path); others are
    scanned when a link's anchor needs them."""
    url = href.strip()
    if not url:
        return ["an empty link"]
    if SCHEME.match(url) or url.startswith("//"):
        return [f"a link out of the site: {url[:100]}"]
    path, _, fragment = url.partition("#")
    path = path.partition("?")[0]
    if not path:
        ids = ids_of.get(page.resolve(), set())
        return [] if fragment in ids else [f"a link to a missing anchor: {url}"]
    target = (page.parent / path).resolve()
    if target.suffix == ".ipynb":
        return [f"a link to a notebook's JSON, not a page: {url}"]
    if not target.is_relative_to(site.resolve()):
        return [f"a link out of the site: {url}"]
    if not target.is_file():
        return [f"a link to a file the site does not have: {url}"]
    if fragment and target.suffix == ".html":
        if target not in ids_of:
            ids_of[target] = scan_page(target.read_text(encoding="utf-8")).ids
        if fragment not in ids_of[target]:
            return [f"a link to a missing anchor: {url}"]
    return []


# ---------------------------------------------------------------------------------------------
# Build


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
               source_dir: Path | None = None, glossary: Path | None = None,
               course: Path | None = None) -> list[Path]:
    """Build the site into ``out``; return the HTML files written (index first).

    ``solutions`` (a folder of executed solution notebooks) makes the instructor build;
    without it, the student build holds no solution. ``source_dir`` is where relative paths of
    markdown images are resolved (the folder the notebooks ran from; by default the folder of
    each executed notebook); ``glossary`` (default: ``glossary.md`` there, else in
    ``notebooks/``) becomes ``glossary.html`` and ``course`` (default: ``course.md`` beside this
    script) the index's front matter. Every page is then checked (``page_problems``): any
    problem stops the build.
    """
    sections = [("Chapters", sorted(notebooks.glob("*.ipynb")), "")]
    if solutions is not None:
        sections.append(("Solutions", sorted(solutions.glob("*.ipynb")), "solutions/"))
    if not sections[0][1]:
        raise SystemExit(f"site: no executed notebooks in {notebooks}/: run `make tutorial` "
                         "first (or pass --notebooks)")
    if glossary is None:
        candidates = [(source_dir or notebooks) / "glossary.md", REPO_ROOT / "notebooks" /
                      "glossary.md"]
        glossary = next((path for path in candidates if path.is_file()), None)
    course = course or HERE / "course.md"
    prepare_out(out)
    mathjax = mathjax_source()
    copy_mathjax(mathjax, out / "mathjax")
    shutil.copy2(TEMPLATES / "site.css", out / "site.css")

    # Where each source file of the tutorial lands on the site (links are rewritten to it).
    site_map = {f"{prefix}{path.name}": f"{prefix}{path.stem}.html"
                for _, paths, prefix in sections for path in paths}
    if glossary is not None:
        site_map["glossary.md"] = "glossary.html"
    instructor = solutions is not None

    env = jinja2.Environment(loader=jinja2.FileSystemLoader([TEMPLATES, TEMPLATES / "clric"]),
                             autoescape=False, keep_trailing_newline=True)
    exporter = make_exporter()
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
            body = rewrite_links(body, prefix, site_map, instructor)
            target = out / page.href
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            written.append(target)

    extra = {"mathjax_version": mathjax_version(mathjax), "site_title": SITE_TITLE,
             "resources": {"clric": {"root": ""}}, "instructor": instructor}
    if glossary is not None:
        glossary_html = markdown2html_mistune(glossary.read_text(encoding="utf-8"))
        glossary_html = rewrite_links(glossary_html, "", site_map, instructor)
        title = re.search(r"^# (.+)$", glossary.read_text(encoding="utf-8"), re.MULTILINE)
        (out / "glossary.html").write_text(env.get_template("page.html.j2").render(
            title=plain_text(title.group(1)) if title else "Glossary", body_html=glossary_html,
            **extra), encoding="utf-8")
        written.append(out / "glossary.html")
    front_html = markdown2html_mistune(course.read_text(encoding="utf-8")) \
        if course.is_file() else ""
    index_html = env.get_template("home.html.j2").render(
        lead_html=LEAD, front_html=front_html, sections=[s for s in listed if s["pages"]],
        glossary_href="glossary.html" if glossary is not None else None, **extra)
    index_html = rewrite_links(index_html, "", site_map, instructor)
    (out / "index.html").write_text(index_html, encoding="utf-8")

    ids_of: dict[Path, set[str]] = {}
    problems = [f"{path.relative_to(out)}: {problem}" for path in written
                for problem in page_problems(path.read_text(encoding="utf-8"), path, out, ids_of)]
    if problems:
        raise SystemExit("site: the pages fail the site's checks (docs/site.md, 'Checks'):\n  "
                         + "\n  ".join(problems))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=REPO_ROOT / "build",
                        help="folder of executed notebooks (default: build/)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "site",
                        help="output folder, emptied first (default: build/site/)")
    parser.add_argument("--solutions", type=Path, default=None,
                        help="folder of executed solution notebooks: the instructor build "
                             "(without it, the student build has no solution)")
    parser.add_argument("--source-dir", type=Path, default=REPO_ROOT / "notebooks",
                        help="folder the notebooks ran from, for markdown images with relative "
                             "paths and glossary.md (default: notebooks/)")
    parser.add_argument("--glossary", type=Path, default=None,
                        help="the glossary page's markdown (default: glossary.md in "
                             "--source-dir)")
    args = parser.parse_args(argv)
    if args.solutions is not None and not any(args.solutions.glob("*.ipynb")):
        parser.error(f"--solutions {args.solutions}: no executed solution notebook there "
                     "(run `make solutions` first)")
    if args.glossary is not None and not args.glossary.is_file():
        parser.error(f"--glossary {args.glossary}: no such file")
    written = build_site(args.notebooks, args.out, args.solutions, args.source_dir,
                         args.glossary)
    kind = "instructor build, with solutions" if args.solutions else "student build, no solutions"
    print(f"site: {len(written) - 1} page(s) and index.html in {args.out}/ ({kind}; "
          f"open {args.out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
