"""How a membership application reads, for the worker themself and the officers who decide it.

A read view of its own (not in handlers/join.py) so the officers' chat (membership_staff) and
the web dashboard use it without a conversation: it takes the texts, the areas and the cipher.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.areas import AreaIndex
from bot.core.texts import Texts
from bot.core.validators import display_phone
from storage.crypto import DataCipher
from storage.membership import MemberApplication


@dataclass(frozen=True)
class ApplicationView:
    """The application as people read it; only for the worker themself and the officers.

    Its fields are the placeholders of the texts that show an application (``asdict(view)``).
    """

    name: str
    phone: str
    company: str
    area: str
    union_status: str
    size: str
    job: str

    @classmethod
    def of(
        cls, texts: Texts, areas: AreaIndex, crypto: DataCipher, app: MemberApplication
    ) -> ApplicationView:
        none = texts("join.staff.none_value")
        area = areas.by_code(app.area_code) if app.area_code else None
        phone = crypto.decrypt(app.phone_enc) if app.phone_enc else None
        return cls(
            name=crypto.decrypt(app.name_enc) if app.name_enc else none,
            phone=display_phone(phone) if phone else none,
            company=crypto.decrypt(app.company_enc) if app.company_enc else none,
            area=area.name if area else texts("join.area.unknown"),
            union_status=texts(f"join.union_status.{app.union_status}"),
            size=texts(f"join.size.{app.size_band}"),
            job=crypto.decrypt(app.job_enc) if app.job_enc else none,
        )
