"""Many calls of one Lua script as one Redis command.

Callers that arrive together (see `live/batch.py`) share one EVALSHA of a
wrapper around their script instead of a command each: in a flash sale's first
second every order spends a rate-limit token and passes the stock gate. A
pipeline of EVALSHAs already shared the round trip, but redis-py encodes every
argument of every command and parses every reply in Python (~30 µs a call,
measured); here the calls' arguments travel as one msgpack blob, Redis runs
the script once per call inside one Lua loop, and the replies come back as
one msgpack blob (~5 µs a call).

Each call still sees its own `KEYS` and `ARGV` (strings, as EVALSHA gives
them), returns what it would alone, and its error reaches only its caller: the
loop runs every call in `pcall`. Like consecutive EVALSHAs, a call that fails
keeps what it wrote before failing. The keys travel in the blob too, not as
the command's declared keys: redis-py would encode each one in Python again,
and a batch names keys of many users and sales, which only a single Redis
server (not Redis Cluster) serves in one script anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
from redis.exceptions import ResponseError

from live.batch import Batcher

Call = tuple[Sequence[str], Sequence[Any]]  # (keys, args)

# ARGV[1]: msgpack [[[keys…], [args…]], …].
# Returns msgpack [[1, reply] | [2, 0] (nil) | [0, error text], …].
_WRAPPER = """
local function one(KEYS, ARGV)
%s
end
local calls = cmsgpack.unpack(ARGV[1])
local out = {}
for i = 1, #calls do
  local ok, reply = pcall(one, calls[i][1], calls[i][2])
  if ok then
    -- as EVALSHA replies: a number truncated to an integer, true 1, false nil
    if type(reply) == 'number' then
      if reply >= 0 then reply = math.floor(reply) else reply = math.ceil(reply) end
    elseif reply == true then reply = 1 end
    if reply == nil or reply == false then out[i] = {2, 0} else out[i] = {1, reply} end
  elseif type(reply) == 'table' and reply.err then
    out[i] = {0, reply.err}
  else
    out[i] = {0, tostring(reply)}
  end
end
return cmsgpack.pack(out)
"""


def script_batcher(redis: Any, source: str) -> Batcher[Call, Any]:
    """A Batcher running `source` for every call waiting, in one command; a
    call's error is raised to its caller alone. A script Redis forgot
    (restarted, flushed) is loaded again (redis-py's `Script` does that)."""
    script = redis.register_script(_WRAPPER % source)

    async def run(calls: list[Call]) -> list[Any]:
        packed = [[list(keys), [_text(a) for a in args]] for keys, args in calls]
        raw = await script(keys=[], args=[msgpack.packb(packed)])
        replies = msgpack.unpackb(raw, raw=False)
        return [reply if kind == 1 else None if kind == 2 else ResponseError(reply)
                for kind, reply in replies]

    return Batcher(run)


def _text(arg: Any) -> str:
    """An argument as EVALSHA would hand it to the script: as text."""
    if isinstance(arg, str):
        return arg
    if isinstance(arg, float):
        return repr(arg)
    return str(arg)
