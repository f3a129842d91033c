"""Themes are data: YAML files holding Textual theme colours, loaded into `textual.theme.Theme`s.

Looked up in the repository's `themes/` (editable installs) and `<prefix>/share/jobtui/themes` (wheels).
`--theme` or config `tui.theme` names a theme (`dark`, `light`, `high-contrast`) or a file. A broken
file is reported, never fatal: the TUI falls back to `dark`, or Textual's own dark theme.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from textual.theme import Theme

FALLBACK = "textual-dark"
COLOUR_KEYS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
OTHER_KEYS = {"name": str, "dark": bool, "luminosity_spread": float, "text_alpha": float, "variables": dict}


def theme_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent.parent / "themes"
    return [here, Path(sys.prefix) / "share" / "jobtui" / "themes"]


@dataclass
class ThemeSet:
    themes: dict[str, Theme] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def load_theme_file(path: Path) -> Theme:
    """One theme file; ValueError with a readable cause when it is broken."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the theme ({e.__class__.__name__}: {e})") from e
    if not isinstance(data, dict) or "primary" not in data:
        raise ValueError(f"{path}: a theme is a mapping with at least `primary:` (and name, background, ...)")
    unknown = set(data) - set(COLOUR_KEYS) - set(OTHER_KEYS)
    if unknown:
        raise ValueError(
            f"{path}: unknown theme keys {sorted(unknown)}; allowed: {', '.join(COLOUR_KEYS)}, {', '.join(OTHER_KEYS)}"
        )
    data.setdefault("name", path.stem)
    for key, kind in OTHER_KEYS.items():
        if key in data and not isinstance(data[key], kind | int if kind is float else kind):
            raise ValueError(f"{path}: `{key}` should be a {kind.__name__}")
    theme = Theme(**data)
    try:
        theme.to_color_system().generate()
    except Exception as e:  # Textual's colour parser: a bad colour string
        raise ValueError(f"{path}: invalid colour ({e})") from e
    return theme


def load_themes(dirs: list[Path] | None = None) -> ThemeSet:
    """Every `*.yaml` theme found, first directory wins; errors collected, not raised."""
    found = ThemeSet()
    for folder in dirs if dirs is not None else theme_dirs():
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                theme = load_theme_file(path)
            except ValueError as e:
                found.errors.append(str(e))
                continue
            found.themes.setdefault(theme.name, theme)
    return found


def resolve(choice: str | None, themes: ThemeSet) -> str:
    """The theme name to start with: a known name, a file (loaded into `themes`), or the fallback."""
    choice = choice or "dark"
    if choice in themes.themes:
        return choice
    path = Path(choice).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            theme = load_theme_file(path)
        except ValueError as e:
            themes.errors.append(str(e))
        else:
            themes.themes[theme.name] = theme
            return theme.name
    else:
        known = ", ".join(sorted(themes.themes)) or "none found"
        themes.errors.append(f"theme {choice!r} not found (known: {known}); using the default")
    return "dark" if "dark" in themes.themes else FALLBACK
