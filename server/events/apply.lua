-- Apply a batch of events to Feast's Redis layout, atomically and at most once per id.
-- KEYS: per event, its applied-id marker then the customer's Feast hash.
-- ARGV[1]: marker TTL (s); then per event: event time (s), its protobuf Timestamp,
--   the view's _ts field, the view's TTL (s, 0 none), n, the view's n hash fields,
--   m, then m ops (op, field, value).
-- Returns per event {status, row}: 'ok' or 'dup' with the row after the event (each
-- field's bytes, 4-byte length first), 'unknown' when the customer has no hash.
--
-- Besides Feast's fields the hash gets three kinds of our own (Feast reads only its
-- fields; erasing a customer deletes the whole hash): '_ev_ts:<view>' = the _ts value
-- an event last wrote, '_b_ts:<view>' = the _ts Feast (a batch or push) had written
-- before, '_f' .. field = the time of the event that last set that field. So a 'set'
-- applies when the event is newer than both the batch row and the field's last set,
-- whatever increments moved the view's _ts in between (events may arrive out of order).

local function varint(s, pos)
  local result, scale = 0, 1
  while true do
    local b = s:byte(pos)
    if not b then return nil, pos end
    result = result + (b % 128) * scale
    pos = pos + 1
    if b < 128 then return result, pos end
    scale = scale * 128
  end
end

local function encode_varint(n)
  local out = {}
  n = math.floor(n)
  if n < 0 then n = 0 end
  repeat
    local b = n % 128
    n = (n - b) / 128
    if n > 0 then b = b + 128 end
    out[#out + 1] = string.char(b)
  until n == 0
  return table.concat(out)
end

local function seconds(blob)  -- a protobuf Timestamp's seconds + nanos / 1e9
  if not blob or blob == '' then return nil end
  local pos, secs, nanos = 1, 0, 0
  while pos <= #blob do
    local tag = blob:byte(pos)
    local value
    value, pos = varint(blob, pos + 1)
    if not value then return nil end
    if tag == 8 then secs = value elseif tag == 16 then nanos = value else return nil end
  end
  return secs + nanos / 1e9
end

local function as_double(blob)  -- double_val (0x29) or an int form; else 0
  if blob and #blob == 9 and blob:byte(1) == 41 then return struct.unpack('<d', blob, 2) end
  if blob and #blob >= 2 and (blob:byte(1) == 32 or blob:byte(1) == 24) then
    return (varint(blob, 2)) or 0
  end
  return 0
end

local function as_int(blob)  -- int64_val (0x20); else 0
  if blob and #blob >= 2 and blob:byte(1) == 32 then return (varint(blob, 2)) or 0 end
  return 0
end

local ttl = tonumber(ARGV[1])
local out = {}
local a = 2
for i = 1, #KEYS, 2 do
  local marker, key = KEYS[i], KEYS[i + 1]
  local ts, ts_blob, ts_field = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2]
  local view_ttl, nf = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local fields = {}
  for j = 1, nf do fields[j] = ARGV[a + 4 + j] end
  a = a + 5 + nf
  local nops = tonumber(ARGV[a])
  a = a + 1
  local seen = redis.call('GET', marker)
  if seen then
    out[#out + 1] = {'dup', seen}
    a = a + 3 * nops
  elseif redis.call('EXISTS', key) == 0 then
    out[#out + 1] = {'unknown', ''}
    a = a + 3 * nops
  else
    local raw_ts = redis.call('HGET', key, ts_field)
    local ev_ts, b_field = redis.call('HGET', key, '_ev' .. ts_field), '_b' .. ts_field
    local prev = seconds(raw_ts)
    -- A missing or expired row is served as missing: start it afresh, not from stale values.
    local live = prev ~= nil and (view_ttl == 0 or prev + view_ttl >= ts)
    local newer = (not live) or ts >= prev
    local batch_blob = ''  -- the _ts Feast wrote last (kept while events move _ts on)
    if live then
      if raw_ts and ev_ts and raw_ts == ev_ts then
        batch_blob = redis.call('HGET', key, b_field) or ''
      else
        batch_blob = raw_ts or ''
      end
    end
    local batch_ts = seconds(batch_blob) or 0
    local stored = redis.call('HMGET', key, unpack(fields))
    local cur = {}
    for j = 1, nf do
      local v = stored[j]
      cur[fields[j]] = (live and v) or ''
    end
    local extra = {}
    for _ = 1, nops do
      local op, f, v = ARGV[a], ARGV[a + 1], ARGV[a + 2]
      a = a + 3
      if op == 'd' then
        cur[f] = '\41' .. struct.pack('<d', as_double(cur[f]) + tonumber(v))
      elseif op == 'i' then
        cur[f] = '\32' .. encode_varint(as_int(cur[f]) + tonumber(v))
      elseif op == 'day' then
        if (not live) or math.floor(ts / 86400) > math.floor(prev / 86400) then
          cur[f] = '\32' .. encode_varint(as_int(cur[f]) + 1)
        end
      elseif op == 's' then
        local set_at = (live and tonumber(redis.call('HGET', key, '_f' .. f))) or 0
        if ts >= batch_ts and ts >= set_at then
          cur[f] = v
          extra[#extra + 1] = '_f' .. f
          extra[#extra + 1] = string.format('%.6f', ts)
        end
      end
    end
    local hset, row = extra, {}
    if newer then
      for _, v in ipairs({ts_field, ts_blob, '_ev' .. ts_field, ts_blob, b_field, batch_blob}) do
        hset[#hset + 1] = v
      end
    end
    for j = 1, nf do
      local v = cur[fields[j]]
      hset[#hset + 1] = fields[j]
      hset[#hset + 1] = v
      row[j] = struct.pack('>I4', #v) .. v
    end
    redis.call('HSET', key, unpack(hset))
    local packed = table.concat(row)
    redis.call('SET', marker, packed, 'EX', ttl)
    out[#out + 1] = {'ok', packed}
  end
end
return out
