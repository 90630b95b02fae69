-- Loaded by wrk for every bench point. Sends the bench request, counts responses by
-- status and tallies the gateway's self-reported overhead header, then writes one
-- JSON file the harness reads. Settings come from the environment:
--   BENCH_BODY_FILE        request body (JSON)
--   BENCH_HEADERS          extra request headers, one "Name: value" per line
--   BENCH_OVERHEAD_HEADER  response header holding the overhead in ms
--   BENCH_RESULT_FILE      where done() writes its JSON

local body_file = assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE unset")
local result_file = assert(os.getenv("BENCH_RESULT_FILE"), "BENCH_RESULT_FILE unset")
local header_lines = os.getenv("BENCH_HEADERS") or ""
local overhead_name = string.lower(os.getenv("BENCH_OVERHEAD_HEADER") or "")

local file = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
for line in string.gmatch(header_lines, "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.-)%s*$")
  if name then
    wrk.headers[name] = value
  end
end

-- Per-thread tallies. They are globals so that done() can read them with
-- thread:get(). The overhead is a histogram keyed by hundredths of a millisecond.
statuses = {}
overhead = {}
overhead_missing = 0

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local function find_header(headers, wanted)
  local value = headers[wanted]
  if value ~= nil then
    return value
  end
  for name, found in pairs(headers) do
    if string.lower(name) == wanted then
      return found
    end
  end
  return nil
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if overhead_name == "" then
    return
  end
  local ms = tonumber(find_header(headers, overhead_name) or "")
  if ms then
    local key = math.floor(ms * 100 + 0.5)
    overhead[key] = (overhead[key] or 0) + 1
  else
    overhead_missing = overhead_missing + 1
  end
end

local function add_into(total, part)
  for key, count in pairs(part) do
    total[key] = (total[key] or 0) + count
  end
end

local function json_counts(counts)
  local items = {}
  for key, count in pairs(counts) do
    table.insert(items, string.format('"%d": %d', key, count))
  end
  return "{" .. table.concat(items, ", ") .. "}"
end

function done(summary, latency, requests)
  local all_statuses, all_overhead, missing = {}, {}, 0
  for _, thread in ipairs(threads) do
    add_into(all_statuses, thread:get("statuses"))
    add_into(all_overhead, thread:get("overhead"))
    missing = missing + thread:get("overhead_missing")
  end

  local percentiles = {}
  for _, p in ipairs({50, 75, 90, 99, 99.9}) do
    table.insert(percentiles, string.format('"%s": %.0f', p, latency:percentile(p)))
  end

  local e = summary.errors
  local parts = {
    string.format('"duration_us": %d', summary.duration),
    string.format('"requests": %d', summary.requests),
    string.format('"bytes": %d', summary.bytes),
    string.format(
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}',
      e.connect, e.read, e.write, e.status, e.timeout),
    string.format(
      '"latency_us": {"min": %.0f, "max": %.0f, "mean": %.1f, "stdev": %.1f, ' ..
      '"percentiles": {%s}}',
      latency.min, latency.max, latency.mean, latency.stdev,
      table.concat(percentiles, ", ")),
    '"statuses": ' .. json_counts(all_statuses),
    '"overhead_centims": ' .. json_counts(all_overhead),
    string.format('"overhead_missing": %d', missing),
  }

  local out = assert(io.open(result_file, "w"))
  out:write("{" .. table.concat(parts, ", ") .. "}\n")
  out:close()
end
