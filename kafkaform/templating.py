"""How kafkaform renders templates: the deploy and the offline tests share these options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# Block tags on their own lines leave no blank lines behind in rendered config files.
JINJA_OPTIONS: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True}


def template_path(name: str) -> str:
    return str(TEMPLATES / name)


def render(name: str, **variables: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        **JINJA_OPTIONS,
    )
    return env.get_template(name).render(**variables)
