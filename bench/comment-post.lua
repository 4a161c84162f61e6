-- wrk script: JSON comment submissions to the local server, each one distinct (so each is
-- a new stored comment), spread over the sample's posts with their signed form tokens.
-- TOKENS="slug=token,slug=token,...". Prints one machine-readable line at the end.
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  posts = {}
  for pair in string.gmatch(os.getenv("TOKENS"), "[^,]+") do
    local slug, token = pair:match("^([^=]+)=(.+)$")
    posts[#posts + 1] = { slug = slug, token = token }
  end
  n, ok, bad = 0, 0, 0
end

function request()
  n = n + 1
  local p = posts[(n % #posts) + 1]
  local body = string.format(
    '{"name":"Reader %d","email":"reader%d.%d@example.net","website":"","body":"Comment %d from load thread %d: arts education matters because every child deserves access to *music* and drama.","form_token":"%s","h-captcha-response":"10000000-aaaa-bbbb-cccc-000000000001"}',
    n, tid, n, n, tid, p.token)
  return wrk.format("POST", "/posts/" .. p.slug .. "/comments", { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("bad")
  end
  io.write(string.format('WRK_JSON {"accepted_2xx":%d,"non_2xx":%d,"errors":%d,"elapsed_s":%.3f,"rps_2xx":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    o, b, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, o / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
