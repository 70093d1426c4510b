"""Jinja2 environments for the report pages, and the atomic write they share.

One template per page under ``reports/templates/``. HTML pages render with
autoescaping on, so a scenario name, a channel name or a message text that
holds ``<script>`` is shown, never run. Markdown has no autoescaping of its
own: the Markdown environment's ``finalize`` hook escapes every value a
template prints (backslash before each character Markdown interprets inline, and
before what would start a heading, list or quote at the start of a line, HTML's
``<``/``>``/``&`` as entities, newlines as spaces, so a value can break
neither a table row nor a link); only values wrapped in ``Raw`` (paths the
report itself chose) pass unchanged. Escaping cannot be forgotten in either.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

_TEMPLATES = Path(__file__).parent / "templates"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|~])")
_MD_LINE_START = re.compile(r"^(\s*)([#+=-]|\d+[.)])")  # a heading or a list item if it began a line


class Raw(str):
    """A string the Markdown environment prints as is (the report's own paths)."""


def md_escape(value) -> str:
    """Escape ``value`` so Markdown renders it as literal text, inline."""
    if value is None:
        return ""
    if isinstance(value, Raw):
        return str(value)
    text = " ".join(str(value).splitlines())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LINE_START.sub(lambda m: m[1] + m[2][:-1] + "\\" + m[2][-1], text)


def json_script(data) -> Markup:
    """JSON for a ``<script type="application/json">`` block: ``<`` is written
    as ``\\u003c`` so no value can close the block or open a comment."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _fmt_t(t) -> str:
    return "-" if t is None else f"{t:.3f}"


def _asset(name: str) -> Markup:
    """A static file of the templates folder (the page's CSS or script), inlined as is."""
    return Markup((_TEMPLATES / name).read_text(encoding="utf-8"))


def _env(autoescape: bool) -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"), undefined=StrictUndefined,
                      autoescape=autoescape,
                      finalize=None if autoescape else md_escape, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["json_script"] = json_script
    env.filters["t"] = _fmt_t
    env.globals["asset"] = _asset
    return env


HTML = _env(autoescape=True)
MARKDOWN = _env(autoescape=False)


def render(template: str, **context) -> str:
    """Render ``template`` (``*.html.j2`` with autoescaping, ``*.md.j2`` with Markdown escaping)."""
    env = MARKDOWN if template.endswith(".md.j2") else HTML
    return env.get_template(template).render(**context)


def relative_link(target: Path, base: Path) -> str:
    """``target`` as a link from a page in folder ``base`` (POSIX
    separators). Reports are built in a staging folder and renamed, so an
    absolute path would name a folder that is gone, and differ per run."""
    return Path(os.path.relpath(Path(target).resolve(), Path(base).resolve())).as_posix()


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it over
    ``path``: a reader sees the old page or the new one, never half of one. A
    write that fails (a full disk, Ctrl-C, text that cannot be encoded)
    leaves the old file, if any, and no temporary file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
