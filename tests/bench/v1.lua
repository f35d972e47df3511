-- wrk script: POST /v1/verifications (channel keypad) with a new phone number on
-- every request (the 60 s flood rule refuses a repeat), counting 201 answers.
-- Arguments (after --): token callback_url first_number
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  token, callback_url = args[1], args[2]
  -- 1,000,000 numbers per thread, from the run's own first number on
  next_number = tonumber(args[3]) + id * 1000000
  accepted, other = 0, 0
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  next_number = next_number + 1
  local body = string.format(
    '{"phone":"+1555%07d","channel":"keypad","code":"1234","callback_url":"%s"}',
    next_number % 10000000, callback_url)
  return wrk.format("POST", "/v1/verifications", nil, body)
end

function response(status, headers, body)
  if status == 201 then
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
