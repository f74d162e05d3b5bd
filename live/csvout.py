"""CSV exports over HTTP: streamed page by page, safe to open in a spreadsheet.

Every export (orders, customers, commission) goes through `stream_csv`, so they
share one format: UTF-8 with a BOM (Excel shows Chinese only with it), CRLF
lines, a header row, money in integer 分 (`*_cents`) with a `*_yuan` text
column where a person reads it. A cell that starts like a formula (`= + - @`,
or a tab / carriage return that some spreadsheets skip before one) is
prefixed with `'`, so a nickname or an address can never run in the host's
spreadsheet (CSV injection).

Rows come from `pages`, an async iterator of lists: each page is read in its
own short database session and written before the next is read, so a large
export holds no connection while the client downloads and its memory is one
page, whatever the number of rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PAGE_SIZE = 500

R = TypeVar("R")


def cell(value: Any) -> str:
    """One CSV cell as text: None is empty; a formula-looking text is quoted with `'`."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


def yuan(cents: int) -> str:
    """Integer 分 as yuan text, exactly (no float): 12345 → "123.45", -5 → "-0.05"."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _encode(rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


async def keyset_pages(read: Callable[[Any, int], Awaitable[Sequence[R]]],
                       key: Callable[[R], Any],
                       row: Callable[[R], Sequence[Any]]) -> AsyncIterator[list[Sequence[Any]]]:
    """Pages of CSV rows: `read(after_key, limit)` (in its own short session)
    until a page comes back short; `key(last record)` is the next `after_key`."""
    after = None
    while True:
        records = await read(after, PAGE_SIZE)
        yield [row(r) for r in records]
        if len(records) < PAGE_SIZE:
            return
        after = key(records[-1])


async def stream_csv(request: web.Request, filename: str, header: Sequence[str],
                     pages: AsyncIterator[Sequence[Sequence[Any]]]) -> web.StreamResponse:
    """Answer 200 with the header, then each page of rows as it is read."""
    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    })
    resp.enable_chunked_encoding()
    first = await anext(pages, None)  # errors (404, 403) surface before the 200 is sent
    await resp.prepare(request)
    await resp.write("\ufeff".encode() + _encode([header]))
    page = first
    while page is not None:
        if page:
            await resp.write(_encode(page))
        page = await anext(pages, None)
    await resp.write_eof()
    return resp
