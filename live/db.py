"""Engine, sessions, declarative base and migrations.

SQLite (embedded) runs in WAL mode with a busy timeout. Plain sessions only
read: they start with a deferred BEGIN and run beside the writer. Every
`transaction()` starts with BEGIN IMMEDIATE: a deferred transaction that reads and then writes
can fail with "database is locked" at once instead of waiting, which under a
flash-sale burst would turn into spurious errors. In one process, transactions
queue for their turn on an asyncio lock (`WriteQueue`) rather than in SQLite's
busy handler.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from aiohttp import web
from sqlalchemy import (
    DateTime,
    MetaData,
    and_,
    any_,
    bindparam,
    event,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

from live import keys, sqlite
from live.errors import not_found
from live.settings import Settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


READ_ONLY = "live_read_only"  # execution option of the engine plain sessions use


class WriteQueue:
    """One SQLite transaction at a time in this process, first come first served.

    SQLite admits one writer; the others wait in its busy handler, which polls
    with sleeps of up to 100 ms. Under a burst (a thousand viewers joining, a
    flash sale) a waiter can lose every race until the busy timeout and fail
    with "database is locked" while later arrivals get in. Waiting on an
    asyncio lock instead is fair and wakes the next transaction the moment the
    previous one ends. SQLite's own lock still arbitrates between processes.

    Entered from SQLAlchemy's `begin` event (sync code running in its greenlet,
    hence `await_only`), left when the connection goes back to the pool.
    """

    KEY = "live_write_turn"
    # one queue per database file and event loop: two apps of one process on
    # one file (tests, a restart) take turns too instead of blocking each other
    _shared: ClassVar[weakref.WeakKeyDictionary[Any, dict[str, WriteQueue]]] = \
        weakref.WeakKeyDictionary()

    def __init__(self, timeout_s: float) -> None:
        self.lock = asyncio.Lock()
        self.timeout_s = timeout_s

    @classmethod
    def of(cls, database: str, timeout_s: float = 30.0) -> WriteQueue:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return cls(timeout_s)
        queues = cls._shared.setdefault(loop, {})
        if database not in queues:
            queues[database] = cls(timeout_s)
        return queues[database]

    def enter(self, info: dict[str, Any]) -> None:
        if info.get(self.KEY):
            return
        try:
            await_only(asyncio.wait_for(self.lock.acquire(), self.timeout_s))
        except TimeoutError:
            raise sa_exc.TimeoutError("waited too long for the database write lock") from None
        info[self.KEY] = True

    def leave(self, info: dict[str, Any]) -> None:
        if info.pop(self.KEY, False):
            self.lock.release()


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            # statements run in the loop's thread (live/sqlite.py explains why)
            engine = create_async_engine(url, async_creator=sqlite.creator(path, timeout=30))
        else:
            engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        writers = WriteQueue.of(path or url)

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                # A WAL reader: never waits for the writer. query_only makes a
                # write here fail at once instead of taking the lock outside
                # the WriteQueue (where, in the loop's thread, it could wait
                # for a writer that cannot run meanwhile).
                conn.exec_driver_sql("PRAGMA query_only=1")
                conn.exec_driver_sql("BEGIN")
                return
            writers.enter(conn.connection.info)
            try:
                conn.exec_driver_sql("PRAGMA query_only=0")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writers.leave(conn.connection.info)
                raise

        @event.listens_for(engine.sync_engine, "checkin")
        def _sqlite_checkin(_dbapi_connection: Any, record: Any) -> None:
            writers.leave(record.info)  # the session ended: committed or rolled back

        @event.listens_for(engine.sync_engine, "invalidate")
        def _sqlite_invalidate(_dbapi_connection: Any, record: Any, _exc: Any) -> None:
            writers.leave(record.info)

        return engine
    # application_name names the process in pg_stat_activity: an operator (or a
    # fault test) can tell one worker's connections from everyone else's.
    server_settings = {"application_name": f"live/{os.getpid()}"}
    if settings.database_schema:
        server_settings["search_path"] = settings.database_schema
    connect_args: dict[str, Any] = {"server_settings": server_settings}
    engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_use_lifo=True,
                                 connect_args=connect_args)

    @event.listens_for(engine.sync_engine, "connect")
    def _new(_dbapi_connection: Any, record: Any) -> None:
        record.info["live_new"] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def _alive(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # Pre-ping in one round trip: a pooled connection whose server went
        # away (restart, failover, a terminated backend) is replaced before a
        # request uses it. SQLAlchemy's pool_pre_ping takes three (BEGIN, ";",
        # ROLLBACK), and a batch checks a connection out for every statement
        # group: in a flash sale that was half of a read batch's round trips.
        connection = record.driver_connection
        if record.info.pop("live_new", False):
            return  # just connected: nothing to ask it yet
        if connection.is_closed():
            raise sa_exc.DisconnectionError("the server closed this connection")
        try:
            await_only(connection.execute("SELECT 1"))  # simple protocol: one round trip
        except Exception as exc:
            raise sa_exc.DisconnectionError(f"ping failed: {exc}") from exc

    return engine


def alembic_config(settings: Settings) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "live:migrations")
    cfg.attributes["settings"] = settings
    return cfg


async def migrate(engine: AsyncEngine, settings: Settings, target: str = "heads") -> None:
    """Run Alembic upgrades on `engine` (one connection, one transaction)."""
    from alembic import command

    cfg = alembic_config(settings)

    def run(connection: Any) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, target)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def database(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the engine and session factory, migrated when embedded."""
    settings = app[keys.SETTINGS]
    engine = make_engine(settings)
    from live.metrics import instrument_engine

    instrument_engine(engine, app[keys.METRICS])
    if settings.should_migrate:
        await migrate(engine, settings)
    app[keys.ENGINE] = engine
    # Plain sessions read (on SQLite: a deferred BEGIN, no write turn);
    # `transaction()` binds the engine itself and may write. On PostgreSQL they
    # read in autocommit: under READ COMMITTED a transaction gives several reads
    # no common snapshot anyway, and BEGIN and ROLLBACK were two more round
    # trips for every read batch.
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    app[keys.SESSIONS] = async_sessionmaker(engine.execution_options(**options),
                                            expire_on_commit=False)
    yield
    await engine.dispose()


@asynccontextmanager
async def transaction(app: web.Application) -> AsyncIterator[AsyncSession]:
    """One session, one transaction: commits on success, rolls back on error.
    The only way to write: a plain `app[keys.SESSIONS]()` session is for reading."""
    async with app[keys.SESSIONS](bind=app[keys.ENGINE]) as session, session.begin():
        yield session


def utcnow() -> datetime:
    return datetime.now(UTC)


def keyset_after(columns: Sequence[Any], values: Sequence[Any] | None) -> Any:
    """WHERE (c1, c2, …) > (v1, v2, …), ascending: the next page of a keyset
    pagination. Spelled out as ORs rather than a row-value comparison so each
    value is bound with its column's type (SQLite keeps times as text)."""
    if values is None:
        return true()
    return or_(*(and_(*(columns[j] == values[j] for j in range(i)), column > values[i])
                 for i, column in enumerate(columns)))


T = TypeVar("T")


async def get_or_404(session: AsyncSession, model: type[T], key: Any, what: str) -> T:
    """The row with this primary key, or 404 `not_found` naming `what`: the
    loader behind every domain's `get_<thing>`."""
    row = await session.get(model, key)
    if row is None:
        raise not_found(what)
    return row


# --- statements whose text does not depend on how many values they carry --------------
#
# A batch (live/batch.py) carries 1 to 256 values. `col IN (:a, :b, …)` and a
# many-row INSERT … RETURNING (SQLAlchemy's "insertmanyvalues") are one SQL text
# per count: each is rendered parameter by parameter, and on PostgreSQL each new
# text is a new prepared statement per pooled connection (a Parse round trip and
# a plan) — in a flash sale half of the statements were prepared afresh. On
# PostgreSQL these helpers send one array per column instead (`= ANY(:a)`,
# `unnest`): one text, prepared once, encoded by asyncpg in C. SQLite keeps the
# plain forms (its statement cache is in-process and cheap).


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(session: AsyncSession, column: Any, values: Iterable[Any]) -> Any:
    """`column IN values`."""
    values = list(values)
    if _postgres(session):
        return column == any_(literal(values, ARRAY(column.type)))
    return column.in_(values)


def among_pairs(session: AsyncSession, first: Any, second: Any,
                pairs: Iterable[tuple[Any, Any]]) -> Any:
    """At least the rows whose (`first`, `second`) is one of `pairs`; on
    PostgreSQL also rows that pair one wanted value of `first` with another
    wanted value of `second`: callers keep only the pairs they want."""
    pairs = list(pairs)
    if _postgres(session):
        return and_(among(session, first, {a for a, _ in pairs}),
                    among(session, second, {b for _, b in pairs}))
    return tuple_(first, second).in_(pairs)


def unnest_insert(table: Any, names: Sequence[str]) -> Any:
    """PostgreSQL `INSERT INTO table (names) SELECT unnest(:_name), …`: many rows
    in one statement of one text; execute it with `unnest_params`."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table).from_select(list(names), select(*(
        func.unnest(bindparam(f"_{name}", type_=ARRAY(table.c[name].type))) for name in names)))


def unnest_params(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    return {f"_{name}": [row[name] for row in rows] for name in names}


# --- inserts that skip what exists (both backends) ------------------------------------

_IGNORING: dict[tuple[str, Any, tuple[str, ...], tuple[str, ...]], Any] = {}


async def insert_ignoring(session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]],
                          returning: Sequence[str] = ()) -> list[Any]:
    """INSERT … ON CONFLICT DO NOTHING for many rows in one statement; with
    `returning` (column names), those columns of the rows actually added.

    The statement is built once per table, columns and dialect (a multi-row
    VALUES built per call is compiled per call: in a flash sale that compile
    cost more than the round trip): on PostgreSQL one `unnest` INSERT, on
    SQLite an executemany. Rows must all name the same columns."""
    if not rows:
        return []
    table = model.__table__ if hasattr(model, "__table__") else model
    postgres = _postgres(session)
    names = tuple(rows[0])
    cache_key = ("postgresql" if postgres else "other", table, names, tuple(returning))
    stmt = _IGNORING.get(cache_key)
    if stmt is None:
        if postgres:
            stmt = unnest_insert(table, names).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert
            stmt = sqlite_insert(table).on_conflict_do_nothing()
        if returning:
            stmt = stmt.returning(*(table.c[name] for name in returning))
        _IGNORING[cache_key] = stmt
    params: Any = unnest_params(rows, names) if postgres else list(rows)
    result = await session.execute(stmt, params)
    return list(result.all()) if returning else []
