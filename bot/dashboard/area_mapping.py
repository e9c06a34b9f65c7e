"""The commune → union body mapping edited on the dashboard, laid over content/areas.csv.

The join form and the leads read ``services.areas``; replacing it with the mapped index makes
the chat route by an edit at once, in this process (and in others at their next start).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.core.areas import AreaIndex
from bot.core.services import Services
from storage import reports


def mapped_areas(areas: AreaIndex, mapping: dict[str, str]) -> AreaIndex:
    """The areas with the dashboard's mapping laid over the file's union bodies."""
    return AreaIndex(
        dataclasses.replace(a, union_body=mapping.get(a.code, a.union_body)) for a in areas
    )


async def apply_area_mapping(session: Any, services: Services, file_areas: AreaIndex) -> None:
    """Make the chat route by the edited mapping (the join form reads ``services.areas``)."""
    mapping = await reports.area_mapping(session)
    if not mapping and services.areas is file_areas:
        return  # nothing edited yet: the file's areas stand as loaded
    services.areas = mapped_areas(file_areas, mapping)
