"""Distribution actions: rules, share links, visits, attribution, ledger, figures.

Transport-free: callers own the transaction. Attribution is kept per host
(a 团长 brings a person to the host's shop, not to one stream), per subject:
`v:<viewer id>` for a viewer, `c:<visitor id>` for a browser cookie not yet
known to be a viewer. When a cookie turns out to be a viewer's, its binding is
merged into the viewer's as if the clicks had been made in time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from live.accounts.models import Account
from live.accounts.principal import Principal
from live.db import among, insert_ignoring, keyset_after
from live.errors import forbidden, invalid, not_found
from live.events import Event
from live.ids import new_id
from live.rooms.models import Room
from live.share.models import AttributedOrder, Binding, Commission, PersonLink, Rules, Visit
from live.share.tokens import make_token, read_token
from live.webhooks import service as webhooks

MAX_LEVELS = 3
DEFAULT_RATES = (1000, 300)
LAST_CLICK, FIRST_CLICK = "last_click", "first_click"

WARNING_3_LEVELS = (
    "三级分佣有法律风险：《禁止传销条例》第七条把“以下线的销售业绩为依据计算和给付报酬”"
    "（团队计酬）列为传销行为；组织、领导传销活动罪的刑事立案标准是层级在三级以上、"
    "人数在三十人以上。请只按真实已支付订单计佣，不要为拉人头或发展下线付费，不收入门费。"
    " / Three levels carry legal risk in China: Art. 7 of the Regulations on Prohibition of "
    "Pyramid Selling (禁止传销条例) treats pay based on a downline's sales (团队计酬) as pyramid "
    "selling, and criminal cases count 3 or more levels and 30 or more people. Pay commission "
    "on paid orders only: never for sign-ups or recruiting, and charge no entry fees."
)


# --- rules --------------------------------------------------------------------

@dataclass(frozen=True)
class RuleSet:
    levels: int = 2
    rates_bps: tuple[int, ...] = DEFAULT_RATES
    attribution_window_h: int = 168
    refund_window_h: int = 168
    model: str = LAST_CLICK
    version: int = 0  # 0: the defaults, never changed
    updated_at: datetime | None = None

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.attribution_window_h)

    @property
    def warnings(self) -> list[str]:
        return warnings_for(self.levels)

    def as_dict(self) -> dict[str, Any]:
        return {"levels": self.levels, "rates_bps": list(self.rates_bps),
                "attribution_window_h": self.attribution_window_h,
                "refund_window_h": self.refund_window_h, "model": self.model,
                "warnings": self.warnings, "version": self.version,
                "updated_at": self.updated_at}


DEFAULTS = RuleSet()


def warnings_for(levels: int) -> list[str]:
    return [WARNING_3_LEVELS] if levels >= 3 else []


def check_rules(levels: int, rates_bps: Sequence[int]) -> None:
    bad: list[tuple[str, str]] = []
    if not 1 <= levels <= MAX_LEVELS:
        bad.append(("levels", f"1..{MAX_LEVELS}"))
    if len(rates_bps) != levels:
        bad.append(("rates_bps", "one rate per level"))
    for i, r in enumerate(rates_bps):
        if not 0 <= r <= 10000:
            bad.append((f"rates_bps.{i}", "0..10000"))
    if sum(rates_bps) > 10000:
        bad.append(("rates_bps", "the rates add up to more than 10000 (100 %)"))
    if bad:
        raise invalid("distribution rules are not valid", *bad)


def _ruleset(row: Rules) -> RuleSet:
    return RuleSet(levels=row.levels, rates_bps=tuple(int(r) for r in row.rates_bps.split(",")),
                   attribution_window_h=row.attribution_window_h,
                   refund_window_h=row.refund_window_h, model=row.model, version=row.id,
                   updated_at=row.created_at)


async def rules_of(session: AsyncSession, host_id: str, *,
                   at: datetime | None = None) -> RuleSet:
    """The host's rules in force at `at` (now when None): the newest version."""
    query = select(Rules).where(Rules.host_id == host_id).order_by(Rules.id.desc()).limit(1)
    if at is not None:
        query = query.where(Rules.created_at <= at)
    row = await session.scalar(query)
    return _ruleset(row) if row is not None else DEFAULTS


async def set_rules(session: AsyncSession, *, host_id: str, levels: int,
                    rates_bps: Sequence[int], attribution_window_h: int, refund_window_h: int,
                    model: str, now: datetime) -> RuleSet:
    """A new version of the host's rules; orders paid from now on use it."""
    check_rules(levels, rates_bps)
    row = Rules(host_id=host_id, levels=levels, rates_bps=",".join(str(r) for r in rates_bps),
                attribution_window_h=attribution_window_h, refund_window_h=refund_window_h,
                model=model, created_at=now)
    session.add(row)
    await session.flush()
    return _ruleset(row)


# --- share links --------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    token: str
    room: Room
    leader: Account
    host: Account


async def create_link(session: AsyncSession, *, leader: Principal, room_id: str,
                      secret: str) -> Link:
    """A 团长's link to a room of its own host (404 no room, 403 another host's)."""
    room = await session.get(Room, room_id)
    if room is None:
        raise not_found("room")
    if leader.role != "leader" or room.host_id != leader.host_id:
        raise forbidden("a 团长 shares rooms of its own host only")
    account = await session.get(Account, leader.id)
    host = await session.get(Account, room.host_id)
    if account is None or host is None:
        raise not_found("account")
    return Link(make_token(secret, room_id=room.id, leader_id=account.id), room, account, host)


async def resolve_link(session: AsyncSession, *, secret: str, token: str) -> Link | None:
    """The link a genuine token names, or None (changed, unknown room or 团长)."""
    claims = read_token(secret, token)
    if claims is None:
        return None
    room = await session.get(Room, claims.room_id)
    leader = await session.get(Account, claims.leader_id)
    if room is None or leader is None or leader.role != "leader" \
            or leader.host_id != room.host_id:
        return None
    host = await session.get(Account, room.host_id)
    if host is None:
        return None
    return Link(token, room, leader, host)


def bad_token(message: str) -> Exception:
    return invalid(message, ("share_token", message))


# --- people and bindings --------------------------------------------------------

async def linked_viewer(session: AsyncSession, visitor_id: str | None) -> str | None:
    if not visitor_id:
        return None
    return await session.scalar(
        select(PersonLink.viewer_id).where(PersonLink.visitor_id == visitor_id))


def merge_click(current: tuple[str, datetime] | None, leader_id: str, at: datetime,
                rules: RuleSet) -> tuple[str, datetime]:
    """The binding after a click by `leader_id` at `at`, clicks taken in time order.

    last_click: the newest click within the window wins. first_click: the
    first click holds for the window (a click by the same 团长 renews it);
    once it has lapsed, the next click binds anew.
    """
    if current is None:
        return leader_id, at
    held_by, since = current
    if at >= since:
        if at >= since + rules.window or rules.model == LAST_CLICK or leader_id == held_by:
            return leader_id, at
        return current
    # an older click (a cookie's binding merged into its viewer's)
    if since >= at + rules.window or rules.model == LAST_CLICK or leader_id == held_by:
        return current
    return leader_id, at


async def _bind(session: AsyncSession, *, host_id: str, subject: str, leader_id: str,
                at: datetime, rules: RuleSet) -> None:
    query = select(Binding).where(Binding.host_id == host_id, Binding.subject == subject) \
        .execution_options(populate_existing=True)
    row = await session.scalar(query)
    if row is None:
        await insert_ignoring(session, Binding, [  # a race loses quietly
            {"host_id": host_id, "subject": subject, "leader_id": leader_id, "bound_at": at}])
        row = await session.scalar(query)
        if row is None or (row.leader_id == leader_id and row.bound_at == at):
            return
    leader, since = merge_click((row.leader_id, row.bound_at), leader_id, at, rules)
    if (leader, since) != (row.leader_id, row.bound_at):
        row.leader_id, row.bound_at = leader, since
        await session.flush()


async def link_person(session: AsyncSession, *, visitor_id: str, viewer_id: str,
                      now: datetime) -> None:
    """This cookie is this viewer (the first viewer seen with it keeps it)."""
    existing = await linked_viewer(session, visitor_id)
    if existing is not None:
        return
    await insert_ignoring(session, PersonLink, [
        {"visitor_id": visitor_id, "viewer_id": viewer_id, "linked_at": now}])
    if await linked_viewer(session, visitor_id) != viewer_id:
        return
    cookie_bindings = (await session.scalars(
        select(Binding).where(Binding.subject == f"c:{visitor_id}"))).all()
    for b in cookie_bindings:
        rules = await rules_of(session, b.host_id)
        await _bind(session, host_id=b.host_id, subject=f"v:{viewer_id}",
                    leader_id=b.leader_id, at=b.bound_at, rules=rules)


async def bound_leader(session: AsyncSession, *, host_id: str, viewer_id: str,
                       now: datetime, rules: RuleSet | None = None) -> str | None:
    """The 团长 this viewer is bound to under the host's rules now, if any."""
    leaders = await bound_leaders(session, host_id=host_id, viewer_ids=[viewer_id], now=now,
                                  rules=rules)
    return leaders[viewer_id]


async def bound_leaders(session: AsyncSession, *, host_id: str, viewer_ids: Sequence[str],
                        now: datetime, rules: RuleSet | None = None) -> dict[str, str | None]:
    """`bound_leader` for many viewers of one host (the flash lane): one query
    for the bindings to this host's 团长, one for the rules if there are any."""
    subjects = {f"v:{v}": v for v in viewer_ids}
    rows = (await session.execute(
        select(Binding.subject, Binding.leader_id, Binding.bound_at)
        .join(Account, and_(Account.id == Binding.leader_id, Account.role == "leader",
                            Account.host_id == host_id))
        .where(Binding.host_id == host_id, among(session, Binding.subject, subjects)))).all()
    leaders: dict[str, str | None] = dict.fromkeys(viewer_ids)
    if rows:
        rules = rules or await rules_of(session, host_id)
        for r in rows:
            if now < r.bound_at + rules.window:
                leaders[subjects[r.subject]] = r.leader_id
    return leaders


# --- visits -------------------------------------------------------------------

async def record_link_visit(session: AsyncSession, *, link: Link, visitor_id: str,
                            viewer_id: str | None, now: datetime) -> Visit:
    """`GET /r/{token}`: every opening is a visit; it binds the cookie and,
    when known, the viewer."""
    if viewer_id is not None:
        await link_person(session, visitor_id=visitor_id, viewer_id=viewer_id, now=now)
    viewer_id = await linked_viewer(session, visitor_id) or viewer_id
    visit = Visit(id=new_id("vis"), room_id=link.room.id, host_id=link.room.host_id,
                  leader_id=link.leader.id, visitor_id=visitor_id, viewer_id=viewer_id,
                  source="link", created_at=now)
    session.add(visit)
    rules = await rules_of(session, link.room.host_id)
    await _bind(session, host_id=link.room.host_id, subject=f"c:{visitor_id}",
                leader_id=link.leader.id, at=now, rules=rules)
    if viewer_id is not None:
        await _bind(session, host_id=link.room.host_id, subject=f"v:{viewer_id}",
                    leader_id=link.leader.id, at=now, rules=rules)
    await session.flush()
    return visit


async def _has_visit(session: AsyncSession, *, room_id: str, leader_id: str,
                     viewer_id: str, visitor_id: str | None) -> bool:
    cookies = select(PersonLink.visitor_id).where(PersonLink.viewer_id == viewer_id)
    who = [Visit.viewer_id == viewer_id, Visit.visitor_id.in_(cookies)]
    if visitor_id:
        who.append(Visit.visitor_id == visitor_id)
    found = await session.scalar(select(Visit.id).where(
        Visit.room_id == room_id, Visit.leader_id == leader_id, or_(*who)).limit(1))
    return found is not None


async def use_share_token(session: AsyncSession, *, secret: str, token: str, room_id: str,
                          viewer_id: str | None, visitor_id: str | None, now: datetime,
                          source: str) -> Link:
    """A join or an order carrying `share_token`: refuse a changed or foreign
    token; bind the viewer, link its cookie, and count a visit when neither
    the viewer nor the cookie has one yet for that 团长 and room."""
    link = await resolve_link(session, secret=secret, token=token)
    if link is None:
        raise bad_token("not a valid share link")
    if link.room.id != room_id:
        raise bad_token("this share link is for another room")
    if viewer_id is None:  # hosts and 团长 watching: nothing to attribute
        return link
    if visitor_id:
        await link_person(session, visitor_id=visitor_id, viewer_id=viewer_id, now=now)
    if not await _has_visit(session, room_id=room_id, leader_id=link.leader.id,
                            viewer_id=viewer_id, visitor_id=visitor_id):
        session.add(Visit(id=new_id("vis"), room_id=room_id, host_id=link.room.host_id,
                          leader_id=link.leader.id, visitor_id=visitor_id,
                          viewer_id=viewer_id, source=source, created_at=now))
    rules = await rules_of(session, link.room.host_id)
    await _bind(session, host_id=link.room.host_id, subject=f"v:{viewer_id}",
                leader_id=link.leader.id, at=now, rules=rules)
    await session.flush()
    return link


async def attribute(session: AsyncSession, *, secret: str, viewer_id: str, room_id: str,
                    share_token: str | None, visitor_id: str | None,
                    now: datetime) -> str | None:
    """The order hook: the 团长 an order placed now is attributed to, or None."""
    room = await session.get(Room, room_id)
    if room is None:
        return None
    if share_token is not None:
        await use_share_token(session, secret=secret, token=share_token, room_id=room_id,
                              viewer_id=viewer_id, visitor_id=visitor_id, now=now,
                              source="order")
    elif visitor_id:
        await link_person(session, visitor_id=visitor_id, viewer_id=viewer_id, now=now)
    return await bound_leader(session, host_id=room.host_id, viewer_id=viewer_id, now=now)


async def on_join(session: AsyncSession, *, secret: str, room_id: str, principal: Principal,
                  share_token: str | None, visitor_id: str | None,
                  now: datetime) -> list[Event]:
    """The Socket.IO join hook (a changed or foreign token refuses the join)."""
    viewer_id = principal.id if principal.is_viewer else None
    if share_token is not None:
        await use_share_token(session, secret=secret, token=share_token, room_id=room_id,
                              viewer_id=viewer_id, visitor_id=visitor_id, now=now,
                              source="join")
    elif visitor_id and viewer_id:
        await link_person(session, visitor_id=visitor_id, viewer_id=viewer_id, now=now)
    return []


# --- the ledger -----------------------------------------------------------------

async def on_paid(session: AsyncSession, order: Any, now: datetime) -> list[Event]:
    """An attributed order was paid: record it and write frozen commission up
    the chain, under the host's rules in force now."""
    leader_id = getattr(order, "leader_id", None)
    if not leader_id:
        return []
    if await session.get(AttributedOrder, order.id) is not None:
        return []  # already recorded (a retried payment confirmation)
    room = await session.get(Room, order.room_id)
    if room is None:
        return []
    paid_at: datetime = getattr(order, "paid_at", None) or now
    rules = await rules_of(session, room.host_id, at=now)
    total = int(order.total_cents)
    session.add(AttributedOrder(
        order_id=order.id, host_id=room.host_id, room_id=room.id, leader_id=leader_id,
        viewer_id=order.viewer_id, total_cents=total, status="paid", paid_at=paid_at,
        refunded_at=None))
    settle_after = paid_at + timedelta(hours=rules.refund_window_h)
    account = await session.get(Account, leader_id)
    level = 1
    while (account is not None and account.role == "leader"
           and account.host_id == room.host_id and level <= rules.levels):
        rate = rules.rates_bps[level - 1]
        amount = total * rate // 10000
        if amount > 0:
            session.add(Commission(
                id=new_id("com"), order_id=order.id, leader_id=account.id,
                host_id=room.host_id, room_id=room.id, level=level, rate_bps=rate,
                base_cents=total, amount_cents=amount, status="frozen", paid_at=paid_at,
                settle_after=settle_after, settled_at=None, reversed_at=None))
        account = await session.get(Account, account.parent_id) if account.parent_id else None
        level += 1
    await session.flush()
    return []


async def on_refunded(session: AsyncSession, order: Any, now: datetime) -> list[Event]:
    """Reverse the order's frozen commission; settled entries never change."""
    await session.execute(
        update(AttributedOrder)
        .where(AttributedOrder.order_id == order.id, AttributedOrder.status == "paid")
        .values(status="refunded", refunded_at=now))
    await session.execute(
        update(Commission)
        .where(Commission.order_id == order.id, Commission.status == "frozen")
        .values(status="reversed", reversed_at=now))
    return []


async def settle_due(session: AsyncSession, *, now: datetime) -> int:
    """Settle every frozen entry whose refund window has passed. One
    conditional UPDATE: idempotent, and safe when every worker runs it."""
    settled = (await session.execute(
        update(Commission)
        .where(Commission.status == "frozen", Commission.settle_after <= now)
        .values(status="settled", settled_at=now)
        .returning(Commission.id, Commission.host_id, Commission.room_id, Commission.order_id,
                   Commission.leader_id, Commission.level, Commission.amount_cents)
        .execution_options(synchronize_session=False))).all()
    # Announced in the same transaction: a settlement is never lost or doubled.
    for row in settled:
        await webhooks.enqueue(session, event="commission.settled", now=now, host_id=row.host_id,
                               payload={"room_id": row.room_id, "entry": {
                                   "id": row.id, "order_id": row.order_id,
                                   "leader_id": row.leader_id, "level": row.level,
                                   "amount_cents": row.amount_cents, "status": "settled"}})
    return len(settled)


def entry_dict(c: Commission) -> dict[str, Any]:
    return {"id": c.id, "order_id": c.order_id, "leader_id": c.leader_id, "level": c.level,
            "amount_cents": c.amount_cents, "status": c.status, "room_id": c.room_id,
            "rate_bps": c.rate_bps, "base_cents": c.base_cents, "paid_at": c.paid_at,
            "settle_after": c.settle_after, "settled_at": c.settled_at,
            "reversed_at": c.reversed_at}


async def commissions_of(session: AsyncSession, *, leader_id: str,
                         limit: int) -> dict[str, Any]:
    rows = (await session.scalars(
        select(Commission).where(Commission.leader_id == leader_id)
        .order_by(Commission.paid_at.desc(), Commission.id.desc()).limit(limit))).all()
    sums = dict((await session.execute(
        select(Commission.status, func.coalesce(func.sum(Commission.amount_cents), 0))
        .where(Commission.leader_id == leader_id).group_by(Commission.status))).all())
    return {"entries": [entry_dict(c) for c in rows],
            "frozen_cents": int(sums.get("frozen", 0)),
            "settled_cents": int(sums.get("settled", 0)),
            "reversed_cents": int(sums.get("reversed", 0))}


async def ledger_page(session: AsyncSession, *, host_id: str | None, leader_id: str | None,
                      room_id: str | None, status: str | None,
                      after_key: tuple[datetime, str, int] | None,
                      limit: int) -> list[tuple[Commission, str]]:
    """One page of ledger entries with the 团长's name, by payment time, order and
    level (keyset pagination for the CSV export): a host's, or one 团长's own."""
    c = Commission
    query = (select(c, Account.name).join(Account, Account.id == c.leader_id)
             .where(keyset_after((c.paid_at, c.order_id, c.level), after_key))
             .order_by(c.paid_at, c.order_id, c.level).limit(limit))
    if host_id is not None:
        query = query.where(c.host_id == host_id)
    if leader_id is not None:
        query = query.where(c.leader_id == leader_id)
    if room_id is not None:
        query = query.where(c.room_id == room_id)
    if status is not None:
        query = query.where(c.status == status)
    return [(row, name) for row, name in (await session.execute(query)).all()]


# --- figures ----------------------------------------------------------------------

def conversion(buyers: int, visitors: int) -> float:
    """buyers / visitors rounded half up to 4 decimals, exactly (integers), 0 without
    visitors."""
    if visitors <= 0:
        return 0.0
    return min((buyers * 20000 + visitors) // (2 * visitors), 10000) / 10000


@dataclass
class Figures:
    visits: int = 0
    visitors: int = 0
    buyers: int = 0
    orders: int = 0
    gmv_cents: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, other: Figures) -> None:
        self.visits += other.visits
        self.visitors += other.visitors
        self.buyers += other.buyers
        self.orders += other.orders
        self.gmv_cents += other.gmv_cents

    def as_dict(self) -> dict[str, Any]:
        return {"visits": self.visits, "visitors": self.visitors, "buyers": self.buyers,
                "orders": self.orders, "gmv_cents": self.gmv_cents,
                "conversion_rate": conversion(self.buyers, self.visitors)}


async def figures(session: AsyncSession, *, room_id: str | None = None,
                  leader_ids: Iterable[str] | None = None) -> dict[tuple[str, str], Figures]:
    """Direct figures per (room, 团长): visits, distinct people, and the paid,
    not refunded orders attributed to the 团长."""
    ids = list(leader_ids) if leader_ids is not None else None
    if ids is not None and not ids:
        return {}
    out: dict[tuple[str, str], Figures] = {}

    def where_visits(q: Any) -> Any:
        if room_id is not None:
            q = q.where(Visit.room_id == room_id)
        if ids is not None:
            q = q.where(Visit.leader_id.in_(ids))
        return q

    person = func.coalesce(Visit.viewer_id, PersonLink.viewer_id, Visit.visitor_id)
    q = where_visits(select(Visit.room_id, Visit.leader_id, func.count())
                     .group_by(Visit.room_id, Visit.leader_id))
    for rid, lid, visits in (await session.execute(q)).all():
        out[(rid, lid)] = Figures(visits=int(visits))
    # People: who came by the 团长's links, and who bought through it (a buyer
    # has opened the room, so conversion stays <= 1 even when the binding
    # came from a visit to another room of the host).
    came = where_visits(
        select(Visit.room_id.label("room_id"), Visit.leader_id.label("leader_id"),
               person.label("person"))
        .select_from(Visit).outerjoin(PersonLink, PersonLink.visitor_id == Visit.visitor_id))
    bought = select(AttributedOrder.room_id, AttributedOrder.leader_id,
                    AttributedOrder.viewer_id).where(AttributedOrder.status == "paid")
    if room_id is not None:
        bought = bought.where(AttributedOrder.room_id == room_id)
    if ids is not None:
        bought = bought.where(AttributedOrder.leader_id.in_(ids))
    people = union_all(came, bought).subquery()
    pq = (select(people.c.room_id, people.c.leader_id,
                 func.count(func.distinct(people.c.person)))
          .group_by(people.c.room_id, people.c.leader_id))
    for rid, lid, visitors in (await session.execute(pq)).all():
        out.setdefault((rid, lid), Figures()).visitors = int(visitors)
    oq = (select(AttributedOrder.room_id, AttributedOrder.leader_id, func.count(),
                 func.count(func.distinct(AttributedOrder.viewer_id)),
                 func.coalesce(func.sum(AttributedOrder.total_cents), 0))
          .where(AttributedOrder.status == "paid")
          .group_by(AttributedOrder.room_id, AttributedOrder.leader_id))
    if room_id is not None:
        oq = oq.where(AttributedOrder.room_id == room_id)
    if ids is not None:
        oq = oq.where(AttributedOrder.leader_id.in_(ids))
    for rid, lid, orders, buyers, gmv in (await session.execute(oq)).all():
        f = out.setdefault((rid, lid), Figures())
        f.orders, f.buyers, f.gmv_cents = int(orders), int(buyers), int(gmv)
    return out


async def leader_stats(session: AsyncSession, *, leader_id: str,
                       room_id: str | None) -> Figures:
    """`/me/stats`: one room, or every room with the per-room figures summed."""
    total = Figures()
    for f in (await figures(session, room_id=room_id, leader_ids=[leader_id])).values():
        total.add(f)
    return total


async def leaderboard(session: AsyncSession, *, room_id: str) -> list[dict[str, Any]]:
    per = await figures(session, room_id=room_id)
    names = dict((await session.execute(
        select(Account.id, Account.name).where(
            Account.id.in_([lid for _, lid in per])))).all()) if per else {}
    rows = [{"leader_id": lid, "name": names.get(lid, ""), "visits": f.visits,
             **{k: v for k, v in f.as_dict().items() if k != "visits"}}
            for (_, lid), f in per.items()]
    rows.sort(key=lambda r: (-r["gmv_cents"], -r["visitors"], r["leader_id"]))
    return rows


async def network(session: AsyncSession, *, account_id: str) -> dict[str, Any]:
    me = await session.get(Account, account_id)
    if me is None:
        raise not_found("account")
    parent = await session.get(Account, me.parent_id) if me.parent_id else None
    children = (await session.scalars(
        select(Account).where(Account.parent_id == me.id)
        .order_by(Account.created_at, Account.id))).all()
    child_ids = [c.id for c in children]
    per_leader: dict[str, Figures] = {cid: Figures() for cid in child_ids}
    for (_, lid), f in (await figures(session, leader_ids=child_ids)).items():
        per_leader[lid].add(f)
    grandchildren = dict((await session.execute(
        select(Account.parent_id, func.count()).where(Account.parent_id.in_(child_ids))
        .group_by(Account.parent_id))).all()) if child_ids else {}
    earned = dict((await session.execute(
        select(Commission.leader_id, func.coalesce(func.sum(Commission.amount_cents), 0))
        .where(Commission.leader_id.in_(child_ids), Commission.status != "reversed")
        .group_by(Commission.leader_id))).all()) if child_ids else {}

    def person(a: Account) -> dict[str, Any]:
        return {"id": a.id, "name": a.name, "role": a.role, "parent_id": a.parent_id}

    return {
        "parent": person(parent) if parent else None,
        "children": [{**person(c), "created_at": c.created_at,
                      "children": int(grandchildren.get(c.id, 0)),
                      "commission_cents": int(earned.get(c.id, 0)),
                      **per_leader[c.id].as_dict()} for c in children],
        "invite_code": me.invite_code,
    }


async def room_visit_people(session: AsyncSession, room_id: str) -> set[str]:
    """The people who opened a room by a share link (viewer ids, or cookie ids
    of browsers not yet known as a viewer): for the room's visitor count."""
    person = func.coalesce(Visit.viewer_id, PersonLink.viewer_id, Visit.visitor_id)
    rows = await session.scalars(
        select(func.distinct(person)).select_from(Visit)
        .outerjoin(PersonLink, PersonLink.visitor_id == Visit.visitor_id)
        .where(Visit.room_id == room_id))
    return {r for r in rows if r}

