"""SQLite driven on the event loop's own thread, for the embedded mode.

aiosqlite runs each connection in a thread of its own: every call (cursor,
execute, fetchall, close: three or four per statement) is a hand-off to that
thread and back through the event loop. Under load each hand-off waits for a
loop turn, so a statement that SQLite answers in 50 µs took 5-7 ms, and a chat
message (eight statements) over 100 ms — the largest part of chat latency in
benchmarks/fanout.py. Here the same calls run at once, in the loop's thread:
SQLAlchemy's aiosqlite dialect still drives them (through `async_creator`),
but nothing it awaits ever suspends.

Why blocking the loop is acceptable here: statements on an indexed embedded
database take microseconds; reads never wait (WAL); writers in this process
take turns on `db.WriteQueue` before `BEGIN IMMEDIATE`, so the busy handler
only ever waits for another *process* on the same file (several workers on
SQLite), which the deploy guide already discourages. Large reads (exports)
page in short sessions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# SQLAlchemy's dialect takes its exception classes from the aiosqlite module
from aiosqlite import DatabaseError, Error, IntegrityError, OperationalError  # noqa: F401


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _AtOnce:
    """Where aiosqlite queues a call for its thread (SQLAlchemy uses it to set
    `isolation_level`): run the call now and settle its future."""

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller
            if future is not None:
                future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class Connection:
    """The part of `aiosqlite.Connection` SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, database: str, timeout: float) -> None:
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            database, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._tx = _AtOnce()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("Connection closed")
        return self._conn

    def cursor(self) -> Cursor:  # SQLAlchemy enters it with `async with`-style __aenter__
        return Cursor(self._live().cursor())

    async def commit(self) -> None:
        self._live().commit()

    async def rollback(self) -> None:
        self._live().rollback()

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._live().create_function(*args, **kw)

    @property
    def isolation_level(self) -> str | None:
        return self._live().isolation_level


def creator(database: str, timeout: float) -> Callable[[], Any]:
    """`async_creator` for `create_async_engine`."""

    async def connect() -> Connection:
        return Connection(database, timeout)

    return connect
