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
them), returns what it would alone (the wrapper converts replies as Redis
does, except that an error inside a table is the call's error;
`tests/test_redis_scripts.py` compares them with EVAL's), and its error
reaches only its caller: the loop runs every call in `pcall`. Like
consecutive EVALSHAs, a call that fails keeps what it wrote before failing.
The keys travel in the blob too, not as the command's declared keys: redis-py
would encode each one in Python again, and a batch names keys of many users
and sales, which only a single Redis server (not Redis Cluster) serves in one
script anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
from redis.exceptions import DataError, ResponseError

from live.batch import Batcher

Call = tuple[Sequence[str], Sequence[Any]]  # (keys, args)

# ARGV[1]: msgpack [[[keys…], [args…]], …].
# Returns msgpack [[1, reply] | [2, 0] (nil) | [0, error text], …], each reply
# converted as Redis converts a script's reply (`resp`): numbers truncated to
# integers, true 1, false nil, {ok=…} its text, {err=…} an error, a table its
# elements up to the first nil — nested tables too (an error inside one is
# the call's error).
_WRAPPER = """
local function one(KEYS, ARGV)
%s
end
local function resp(v)
  local t = type(v)
  if t == 'number' then
    if v >= 0 then return math.floor(v) else return math.ceil(v) end
  elseif t == 'boolean' then
    if v then return 1 else return nil end
  elseif t == 'table' then
    if v.err then error(v) end
    if v.ok then return v.ok end
    local out, i = {}, 1
    while v[i] ~= nil do
      local e = resp(v[i])
      if e == nil then e = cjson.null end  -- cmsgpack writes it as nil, keeping the array whole
      out[i] = e
      i = i + 1
    end
    return out
  end
  return v
end
local calls = cmsgpack.unpack(ARGV[1])
local out = {}
for i = 1, #calls do
  local ok, reply = pcall(function() return resp(one(calls[i][1], calls[i][2])) end)
  if not ok then
    if type(reply) == 'table' and reply.err then reply = reply.err end
    out[i] = {0, tostring(reply)}
  elseif reply == nil then
    out[i] = {2, 0}
  else
    out[i] = {1, reply}
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
        answers: list[Any] = [None] * len(calls)
        sent: list[int] = []
        packed: list[Any] = []
        for i, (keys, args) in enumerate(calls):
            try:
                packed.append([[_text(k) for k in keys], [_text(a) for a in args]])
                sent.append(i)
            except DataError as exc:  # this call's mistake, not the batch's
                answers[i] = exc
        if not packed:
            return answers
        # use_bin_type=False: Redis's cmsgpack reads only the older raw type, which
        # carries str and bytes alike (Lua strings are bytes)
        raw = await script(keys=[], args=[msgpack.packb(packed, use_bin_type=False)])
        try:  # bytes stay bytes, as EVALSHA's replies (no decoding)
            replies = msgpack.unpackb(raw, raw=True, strict_map_key=False)
        except (ValueError, msgpack.UnpackException) as exc:
            raise ResponseError(f"unreadable batched script reply: {exc}") from exc
        for i, (kind, reply) in zip(sent, replies, strict=True):
            answers[i] = (reply if kind == 1 else None if kind == 2 else
                          ResponseError(reply.decode(errors="replace")))
        return answers

    return Batcher(run)


def _text(arg: Any) -> str | bytes:
    """An argument as EVALSHA would hand it to the script: text (or bytes);
    what redis-py refuses (None, booleans, …) is refused the same way."""
    if isinstance(arg, (str, bytes)):
        return arg
    if isinstance(arg, bool) or not isinstance(arg, (int, float)):
        raise DataError(f"invalid script argument {arg!r}: text, bytes or a number")
    return repr(arg) if isinstance(arg, float) else str(arg)
