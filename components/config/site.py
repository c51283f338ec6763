"""``binder:binderhub.site``: the service's own face (issue 22, item 6) -- its name, the about
page with an abuse contact, and which of the stack's static files are its logo and stylesheet.

The files themselves live in the repository, per stack (``helm_configs/base/`` then
``helm_configs/<stack>/``: ``templates/``, ``static/``, ``hub-templates/``); the plan reads
them (:mod:`components.releases.site`). docs/public.md has the whole picture.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from pydantic import Field, field_validator

from components.config.base import Model

#: An e-mail address, loosely: something@domain.tld, no spaces or angle brackets.
_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"'.]+$")


class AboutPage(Model):
    """BinderHub's about page (``/about``): ``BinderHub.about_message``, shown under
    "powered by BinderHub" (binderhub ``static/js/pages/AboutPage.jsx`` @ b9fad995), as
    mybinder.org says who runs it and where to report abuse (``mybinder/values.yaml`` L221
    @ 95860dbc)."""

    message: str | None = None
    """HTML: who runs the service, its terms, how to cite it. BinderHub inserts it as is."""
    abuse_contact: str | None = None
    """E-mail address for abuse reports, shown as a mailto link after ``message``. A public
    (anonymous) Binder without one gets a warning."""

    @field_validator("abuse_contact")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"must be an e-mail address such as abuse@example.org, not '{value}'")
        return value


def _static_path(value: str | None) -> str | None:
    if value is None:
        return None
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not value.strip():
        raise ValueError(
            f"'{value}' must be a path inside the stack's static/ folder, such as 'logo.svg' "
            "(helm_configs/<stack>/static/logo.svg)"
        )
    return str(path)


class SiteConfig(Model):
    """The site's name, about page, and which static files brand it."""

    name: str = Field(default="Binder", min_length=1, max_length=80)
    """The page title and the social-preview title (``BinderHub.default_opengraph_title``),
    and the name the culled-server page gives."""
    about: AboutPage = Field(default_factory=AboutPage)
    logo: str | None = None
    """A file under ``static/`` shown instead of BinderHub's logo, e.g. ``logo.svg``."""
    stylesheet: str | None = None
    """A CSS file under ``static/`` loaded after BinderHub's own, e.g. ``site.css``."""

    @field_validator("logo", "stylesheet")
    @classmethod
    def _in_static(cls, value: str | None) -> str | None:
        return _static_path(value)
