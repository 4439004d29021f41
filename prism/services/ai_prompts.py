"""An organization's AI prompts: the defaults PRISM ships, overridden (by admins) one revision at a time.

The current override of a key is its newest revision not retired; a new override retires the one before, a reset
retires it and the default applies again. Every revision is kept, so the runs made with each stay comparable
(`ai_run.prompt_version`, `aiUsage`).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import select

from prism.ai.prompts import (
    Prompt,
    PromptTemplate,
    PromptTemplateError,
    check_template,
    default_prompts,
    override_version,
)
from prism.auth.rbac import Permission, Viewer, require
from prism.db.base import utcnow
from prism.db.tables import AiPrompt
from prism.db.tenancy import tenant_select
from prism.db.unit_of_work import UnitOfWork
from prism.errors import Code, NotFoundError, ValidationError
from prism.services.ai_usage import PromptUsage, usage_by_prompt
from prism.services.audit import RequestMeta, record
from prism.services.validation import clean_text

__all__ = ["PromptService", "PromptView", "current_prompt"]

_TABLE = AiPrompt.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PromptView:
    """What `aiPrompts` shows of one key: the prompt in use, the default it overrides, and when it was saved."""

    current: Prompt
    default: PromptTemplate
    updated_at: datetime | None


def _template(key: str) -> PromptTemplate:
    template = default_prompts().get(key)
    if template is None:
        raise NotFoundError(f"No AI prompt {key!r}; the keys are {', '.join(default_prompts())}.", field="key")
    return template


def _prompt(template: PromptTemplate, row: sa.Row | None) -> Prompt:
    if row is None:
        return Prompt(key=template.key, version=template.version_label, text=template.text, overridden=False)
    version = override_version(template.key, row.revision)
    return Prompt(key=template.key, version=version, text=row.text, overridden=True)


def _overrides(organization_id: UUID) -> Any:
    return (
        tenant_select(_TABLE, organization_id, _TABLE.c.key, _TABLE.c.revision, _TABLE.c.text, _TABLE.c.created_at)
        .where(_TABLE.c.retired_at.is_(None))
        .order_by(_TABLE.c.key, _TABLE.c.revision.desc())
    )


async def current_prompt(uow: UnitOfWork, organization_id: UUID, key: str) -> Prompt:
    """The prompt a feature uses in an organization: its current override, else the default."""
    template = _template(key)
    rows = await uow.all(_overrides(organization_id).where(_TABLE.c.key == key).limit(1))
    return _prompt(template, rows[0] if rows else None)


class PromptService:
    """Reads and overrides an organization's prompts; overriding and resetting need MANAGE_AI (admins)."""

    def __init__(self, uow: UnitOfWork, viewer: Viewer, meta: RequestMeta | None = None) -> None:
        self._uow = uow
        self._viewer = viewer
        self._meta = meta or RequestMeta()

    @property
    def _org(self) -> UUID:
        return self._viewer.organization_id

    async def prompts(self) -> list[PromptView]:
        """Every prompt key, in key order, as the organization uses it."""
        current: dict[str, sa.Row] = {}
        for row in await self._uow.all(_overrides(self._org)):
            current.setdefault(row.key, row)
        return [
            PromptView(
                current=_prompt(template, current.get(key)),
                default=template,
                updated_at=current[key].created_at if key in current else None,
            )
            for key, template in sorted(default_prompts().items())
        ]

    async def usage(self, since: datetime, until: datetime) -> list[PromptUsage]:
        """The organization's AI runs in [since, until) by feature and prompt version (runs, tokens, cost, latency)."""
        return await usage_by_prompt(self._uow, self._org, since, until)

    async def view(self, key: str) -> PromptView:
        """One key's prompt as the organization uses it."""
        return next(view for view in await self.prompts() if view.current.key == key)

    async def set_override(self, key: str, text: str) -> PromptView:
        """Save `text` as the organization's prompt for `key` (a new revision); a template that would not render is
        BAD_USER_INPUT."""
        require(self._viewer, Permission.MANAGE_AI)
        template = _template(key)
        text = clean_text(text, "text", max_length=20_000)
        try:
            check_template(template, text)
        except PromptTemplateError as error:
            raise ValidationError(str(error), field="text", code=Code.BAD_USER_INPUT) from None
        async with self._uow.session(self._org) as session:
            # The lock serialises two admins saving the same key: each gets its own revision number.
            lock = sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"ai-prompt:{self._org}:{key}", 0))
            await session.exec(select(lock))  # unscoped: an advisory lock, reads no table
            latest = await session.scalar(
                tenant_select(_TABLE, self._org, sa.func.coalesce(sa.func.max(_TABLE.c.revision), 0)).where(
                    _TABLE.c.key == key
                )
            )
            now = utcnow()
            await session.exec(
                sa.update(_TABLE)
                .where(_TABLE.c.organization_id == self._org, _TABLE.c.key == key, _TABLE.c.retired_at.is_(None))
                .values(retired_at=now)
            )
            revision = int(latest or 0) + 1
            session.add(
                AiPrompt(
                    organization_id=self._org,
                    key=key,
                    revision=revision,
                    text=text,
                    created_by_id=self._viewer.user_id,
                    created_at=now,
                )
            )
            record(
                session,
                organization_id=self._org,
                action="ai_prompt.overridden",
                meta=self._meta,
                actor=self._viewer,
                target_type="AiPrompt",
                target_id=key,
                details={"version": override_version(key, revision)},
            )
        return await self.view(key)

    async def reset_override(self, key: str) -> PromptView:
        """Retire the organization's override of `key`: the default applies again (nothing to reset is no error)."""
        require(self._viewer, Permission.MANAGE_AI)
        _template(key)
        async with self._uow.session(self._org) as session:
            result = await session.exec(
                sa.update(_TABLE)
                .where(_TABLE.c.organization_id == self._org, _TABLE.c.key == key, _TABLE.c.retired_at.is_(None))
                .values(retired_at=utcnow())
            )
            if result.rowcount:  # type: ignore[attr-defined]
                record(
                    session,
                    organization_id=self._org,
                    action="ai_prompt.reset",
                    meta=self._meta,
                    actor=self._viewer,
                    target_type="AiPrompt",
                    target_id=key,
                )
        return await self.view(key)
