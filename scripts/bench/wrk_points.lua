-- wrk script of scripts/bench/http_load.py: each request takes the next point of a list, never the same point
-- twice in a run (threads take alternate points); GET asks ?lon=&lat=, POST sends an incident report as JSON with
-- a fresh Idempotency-Key. done() prints one line "WRKJSON {...}" with the totals and the latency percentiles.
-- Arguments (after --): METHOD POINTS_FILE FIRST COUNT KEY_PREFIX THREADS

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   method = args[1]
   dofile(args[2])  -- defines points = { {lon, lat, category, i}, ... }
   first = tonumber(args[3])
   count = tonumber(args[4])
   prefix = args[5]
   counter = 0
   ok = 0
   bad = 0
   nthreads = tonumber(args[6])
end

function request()
   local k = (counter * nthreads + id - 1) % count
   counter = counter + 1
   local p = points[first + k + 1]
   if method == "GET" then
      return wrk.format("GET", string.format("%s?lon=%.7f&lat=%.7f", wrk.path, p[1], p[2]))
   end
   local body = string.format(
      '{"category":"%s","lon":%.7f,"lat":%.7f,"description":"%s","reporter_name":"测试 synthetic",'
         .. '"reporter_phone":"13800000000"}', p[3], p[1], p[2], prefix .. " " .. p[4])
   local headers = {["Content-Type"] = "application/json",
                    ["Idempotency-Key"] = string.format("%s-%d-%d", prefix, id, counter)}
   return wrk.format("POST", wrk.path, headers, body)
end

function response(status, headers, body)
   if status == 200 or status == 201 then
      ok = ok + 1
   else
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local n_ok, n_bad = 0, 0
   for _, t in ipairs(threads) do
      n_ok = n_ok + t:get("ok")
      n_bad = n_bad + t:get("bad")
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,'
         .. '"ok":%d,"bad":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean, n_ok, n_bad, e.connect, e.read, e.write, e.status,
      e.timeout))
end
