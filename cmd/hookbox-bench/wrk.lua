-- hookbox-bench --load wrk: each thread sends the signed webhooks of its
-- own file (PREFIX.N, written by hookbox-bench: a line "signature<TAB>length"
-- then the body), and after SHARE answers stops and creates PREFIX.N.done.
-- wrk itself runs until its duration ends or SIGINT, which hookbox-bench
-- sends once every thread is done; done() then prints the run's summary as
-- one line of JSON, the last line of wrk's output.
-- Arguments (after wrk's "--"): PREFIX SHARE.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  name = args[1] .. "." .. id
  file = assert(io.open(name, "rb"))
  share = tonumber(args[2])
  answered = 0
  bad = 0
end

function request()
  local line = file:read("*l")
  if line == nil then
    -- Past the share: requests in flight when the thread stops. Sent
    -- again, they are duplicates to hookbox and are not counted.
    file:seek("set", 0)
    line = file:read("*l")
  end
  local sig, n = line:match("^([^\t]+)\t(%d+)$")
  local body = file:read(tonumber(n))
  return wrk.format("POST", nil, {["Stripe-Signature"] = sig, ["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then
    bad = bad + 1
  end
  if answered == share then
    assert(io.open(name .. ".done", "w")):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("bad")
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"count":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"errors":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    bad + e.connect + e.read + e.write + e.timeout))
end
