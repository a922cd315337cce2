"""Makes Great Expectations Data Docs viewable with no network: vendored assets copied in, CDN references rewritten."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from cosell.config import EXPECTATIONS_DIR

ASSETS_DIR = EXPECTATIONS_DIR / "data_docs_assets"
VENDOR = "static/vendor"
IMAGES = "static/images"
ASSET_FOLDERS = ("css", "js", "webfonts")

# a <link>, <script> or <img> tag that loads something from the web
_TAG = re.compile(r"<(link|script|img)\b[^>]*?\b(?:href|src)=\"(https?://[^\"]+)\"[^>]*>(?:\s*</script>)?", re.I | re.S)
_CSS_URL = re.compile(r"url\(\s*['\"]?(https?://[^'\")]+)['\"]?\s*\)", re.I)
_CROSS_ORIGIN = re.compile(r"\s(?:integrity|crossorigin)=\"[^\"]*\"", re.I)


def _name(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _assets() -> dict[str, str]:
    """File name -> path under static/vendor, for every vendored asset."""
    found = {}
    for folder in ASSET_FOLDERS:
        for path in sorted((ASSETS_DIR / folder).iterdir()):
            found[path.name] = f"{VENDOR}/{folder}/{path.name}"
    return found


def _local(url: str, assets: dict[str, str], images: set[str]) -> str | None:
    """The site path that replaces a web URL, or None when the page does without it."""
    name = _name(url)
    for candidate in (name, name.replace(".css", ".min.css")):  # GX names one filter-control file unminified
        if candidate in assets:
            return assets[candidate]
    return f"{IMAGES}/{name}" if name in images else None


def localise_site(site_dir: Path) -> int:
    """Copy the vendored assets into the site and point every page at them; returns the pages rewritten."""
    site_dir = Path(site_dir)
    for folder in ASSET_FOLDERS:
        shutil.copytree(ASSETS_DIR / folder, site_dir / VENDOR / folder, dirs_exist_ok=True)
    assets = _assets()
    images = {p.name for p in (site_dir / IMAGES).glob("*")} if (site_dir / IMAGES).is_dir() else set()
    rewritten = 0
    for page in sorted(site_dir.rglob("*.html")) + sorted(site_dir.rglob("*.css")):
        if VENDOR in page.relative_to(site_dir).as_posix():
            continue
        root = Path(os.path.relpath(site_dir, page.parent)).as_posix()

        def tag(match: re.Match) -> str:
            local = _local(match.group(2), assets, images)
            if local is None:
                return ""
            return _CROSS_ORIGIN.sub("", match.group(0).replace(match.group(2), f"{root}/{local}"))

        def css_url(match: re.Match) -> str:
            local = _local(match.group(1), assets, images)
            return f"url('{root}/{local}')" if local else "none"

        text = page.read_text(encoding="utf-8")
        new = _CSS_URL.sub(css_url, _TAG.sub(tag, text) if page.suffix == ".html" else text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            rewritten += 1
    return rewritten
