-- wrk script: GET /api/reverse_verify/ with a new phone number on every request
-- (the 60 s flood rule refuses a repeat), counting answers whose body is "0".
-- Arguments (after --): api_key callback_url first_number
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  api_key, callback_url = args[1], args[2]
  -- 1,000,000 numbers per thread, from the run's own first number on
  next_number = tonumber(args[3]) + id * 1000000
  accepted, other = 0, 0
end

function request()
  next_number = next_number + 1
  local path = string.format(
    "/api/reverse_verify/?api_key=%s&phone_number=555%07d&country_code=1&code=1234"
    .. "&callback_url=%s&secret=bench", api_key, next_number % 10000000, callback_url)
  return wrk.format("GET", path)
end

function response(status, headers, body)
  if status == 200 and body == "0" then
    accepted = accepted + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    o = o + t:get("other")
  end
  io.write(string.format("BENCH accepted=%d other=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    a, o, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout))
end
