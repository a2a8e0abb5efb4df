"""Tables of 六步议事: council members (1+7+X roles as data), topics and their steps, attachment links,
meetings with participants, a vote per item, and follow-up tasks linked to incidents or orders.

A proposer's name and phone are personal data: never in a public answer.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from gis.deliberation import TopicOrigin, TopicStep
from layers.models import Base, _check_in, _geom, _gist


class CouncilRoleRow(Base):
    """A kind of seat on the 协商议事会 ("1", "7" or "X"), seeded from :data:`gis.deliberation.COUNCIL_ROLES`."""

    __tablename__ = "council_roles"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    role_group: Mapped[str] = mapped_column(String(1))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class CouncilMember(Base):
    """A member of a community's 协商议事会 in one role."""

    __tablename__ = "council_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(ForeignKey("council_roles.code"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(200))


class Topic(Base):
    """A topic (议题) on its way through the six steps."""

    __tablename__ = "topics"
    __table_args__ = (_check_in("step", TopicStep), _check_in("origin", TopicOrigin), _gist("topics"))

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(16), default=TopicStep.COLLECTING.value, index=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    geom = mapped_column(_geom("POINT"), nullable=True)
    proposer_name: Mapped[str | None] = mapped_column(String(100))
    proposer_phone: Mapped[str | None] = mapped_column(String(40))
    incident_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str] = mapped_column(String(200))


class TopicStepEvent(Base):
    """One step of a topic: who moved it from which step to which, when, and why."""

    __tablename__ = "topic_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    from_step: Mapped[str | None] = mapped_column(String(16))
    to_step: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TopicAttachment(Base):
    """A link (http/https only) attached to a topic: a survey, photos, a plan."""

    __tablename__ = "topic_attachments"
    __table_args__ = (CheckConstraint("url ~* '^https?://'", name="url_http"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(1000))
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Meeting(Base):
    """A meeting of a community's council (协商议事会议) with its quorum."""

    __tablename__ = "meetings"
    __table_args__ = (CheckConstraint("quorum >= 1", name="quorum_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    title: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[dt.date] = mapped_column(Date)
    place: Mapped[str | None] = mapped_column(String(200))
    quorum: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    source: Mapped[str] = mapped_column(String(200))


class MeetingParticipant(Base):
    """A council member invited to a meeting, and whether they came."""

    __tablename__ = "meeting_participants"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id", name="uq_meeting_participants"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("council_members.id"))
    present: Mapped[bool] = mapped_column(Boolean, default=True)


class MeetingItem(Base):
    """One topic on a meeting's agenda, with its vote (for/against/abstain) and the public notice of the result."""

    __tablename__ = "meeting_items"
    __table_args__ = (
        UniqueConstraint("meeting_id", "topic_id", name="uq_meeting_items"),
        CheckConstraint("votes_for >= 0 AND votes_against >= 0 AND votes_abstain >= 0", name="votes_not_negative"),
        CheckConstraint("votes_for + votes_against + votes_abstain <= present", name="ballots_within_present"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    present: Mapped[int] = mapped_column(Integer)
    votes_for: Mapped[int] = mapped_column(Integer)
    votes_against: Mapped[int] = mapped_column(Integer)
    votes_abstain: Mapped[int] = mapped_column(Integer)
    quorate: Mapped[bool] = mapped_column(Boolean)
    passed: Mapped[bool] = mapped_column(Boolean)
    decision: Mapped[str] = mapped_column(Text)
    voted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    notice_from: Mapped[dt.date | None] = mapped_column(Date)
    notice_until: Mapped[dt.date | None] = mapped_column(Date)


class TopicTask(Base):
    """A follow-up task (研究落实) linked to an incident or an order; when every task's incident or order is
    closed, a database trigger closes the topic."""

    __tablename__ = "topic_tasks"
    __table_args__ = (
        CheckConstraint("(incident_id IS NULL) <> (order_id IS NULL)", name="one_link"),
        UniqueConstraint("topic_id", "incident_id", "order_id", name="uq_topic_tasks",
                         postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("service_orders.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
