"""The time-zone choices of the forms: canonical IANA names, grouped by region, city first.

Python knows ~600 zone names, many of them legacy aliases (``US/Pacific``) or traps
(``Etc/GMT+5`` is UTC−5). The forms offer only the zones tzdata's ``zone.tab`` lists per
country, plus UTC, grouped by region (one ``<optgroup>`` each) and labelled by city
("Buenos Aires, Argentina"), so a phone's select neither truncates the useful part nor hides
it, and typing a city's first letters finds it with or without JavaScript. Each choice also
names the aliases tzdata links to it (``Asia/Calcutta`` for ``Asia/Kolkata``: what Chromium's
``Intl`` reports in India), so the sign-up form can still pre-select a browser's zone. A stored zone
that is not in the list (a legacy alias from the command line or an import) is offered too,
so saving the page never changes it unasked. Knows nothing of routes or the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from zoneinfo import available_timezones

OTHER = "Other"


@dataclass(frozen=True, slots=True)
class Zone:
    """One choice: the IANA name sent with the form and the label shown."""

    name: str
    label: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Region:
    """One ``<optgroup>``: a region's zones, sorted by label."""

    name: str
    zones: tuple[Zone, ...]


def _label(name: str) -> str:
    """``America/Argentina/Buenos_Aires`` → ``Buenos Aires, Argentina``."""
    parts = name.replace("_", " ").split("/")
    city, within = parts[-1], parts[1:-1]
    return ", ".join([city, *reversed(within)])


@cache
def canonical_zones() -> frozenset[str]:
    """The zones of tzdata's zone.tab that this Python can load, and UTC."""
    table = files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    listed = {
        fields[2]
        for line in table.splitlines()
        if line and not line.startswith("#") and len(fields := line.split("\t")) >= 3
    }
    return frozenset((listed & _known()) | {"UTC"})


@cache
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _aliases() -> dict[str, tuple[str, ...]]:
    """Each listed zone and the unlisted names tzdata links to it (tzdata.zi's ``L`` lines)."""
    table = files("tzdata").joinpath("zoneinfo", "tzdata.zi").read_text(encoding="utf-8")
    listed = canonical_zones()
    found: dict[str, list[str]] = {"UTC": ["Etc/UTC"]}
    for line in table.splitlines():
        if not line.startswith("L "):
            continue
        _, target, alias = line.split()[:3]
        target = "UTC" if target == "Etc/UTC" else target
        if target in listed and alias not in listed:
            found.setdefault(target, []).append(alias)
    return {name: tuple(sorted(names)) for name, names in found.items()}


@cache
def _regions() -> tuple[Region, ...]:
    grouped: dict[str, list[Zone]] = {}
    aliases = _aliases()
    for name in canonical_zones():
        region = name.split("/", 1)[0] if "/" in name else "UTC"
        grouped.setdefault(region, []).append(Zone(name, _label(name), aliases.get(name, ())))
    return tuple(
        Region(region, tuple(sorted(zones, key=lambda z: (z.label.casefold(), z.name))))
        for region, zones in sorted(grouped.items(), key=lambda kv: (kv[0] != "UTC", kv[0]))
    )


def zone_regions(current: str | None = None) -> tuple[Region, ...]:
    """The regions to offer; ``current`` (a stored zone) is kept under "Other" if not listed.

    Only a zone Python knows is kept: a form sent back with a typo offers no typo.
    """
    regions = _regions()
    if current and current not in canonical_zones() and current in _known():
        return (*regions, Region(OTHER, (Zone(current, current),)))
    return regions
