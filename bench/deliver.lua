-- wrk script for bench/run.py: each wrk thread sends the pre-signed deliveries of its own file
-- (SIGNATURE<tab>BODY lines) once each, records every id answered "stored", and when all its
-- deliveries are answered writes its tally and timing, then stops.
--
--   wrk -t T -c C -d 600s -s bench/deliver.lua URL -- INPUT OUTPUT
-- thread k (from 0) reads INPUT-k.requests and writes OUTPUT-k.acked and OUTPUT-k.done.
-- wrk itself runs until -d or SIGINT; bench/run.py sends SIGINT once every .done file exists.

local ffi = require("ffi")
ffi.cdef [[
   typedef struct { long tv_sec; long tv_usec; } bench_timeval;
   int gettimeofday(bench_timeval *tv, void *tz);
]]
local function now()
   local tv = ffi.new("bench_timeval")
   ffi.C.gettimeofday(tv, nil)
   return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end

local counter = 0

function setup(thread)
   thread:set("number", counter)
   counter = counter + 1
end

function init(args)
   source = assert(io.open(args[1] .. "-" .. number .. ".requests", "r"))
   output = args[2] .. "-" .. number
   acked = assert(io.open(output .. ".acked", "w"))
   stored, duplicate, refused, sent = 0, 0, 0, 0
   headers = { ["Content-Type"] = "application/json" }
end

local function finish()
   acked:close()
   local done = assert(io.open(output .. ".done", "w"))
   done:write(string.format('{"stored":%d,"duplicate":%d,"refused":%d,"sent":%d,"start":%.6f,"end":%.6f}\n',
      stored, duplicate, refused, sent, started, now()))
   done:close()
   wrk.thread:stop()
end

function request()
   -- wrk calls request() once on thread 0 to check the script, and discards what it returns:
   -- answer that first call, on every thread, with a health check rather than a delivery.
   if not started then
      started = now()
      return wrk.format("GET", "/healthz")
   end
   local line = source and source:read("*l")
   if line == nil then
      -- Out of deliveries. Stopping at once would drop answers still in flight on this thread's
      -- other connections, so keep them busy with health checks until every delivery is answered.
      source = nil
      if not finished and stored + duplicate + refused >= sent then
         finished = true
         finish()
      end
      return wrk.format("GET", "/healthz")
   end
   local tab = line:find("\t", 1, true)
   headers["circleci-signature"] = line:sub(1, tab - 1)
   sent = sent + 1
   return wrk.format("POST", "/webhooks/circleci", headers, line:sub(tab + 1))
end

function response(status, _, body)
   if status == 200 and body:find('"status":"stored"', 1, true) then
      stored = stored + 1
      acked:write(body:match('"id":"([^"]*)"'), "\n")
   elseif status == 200 and body:find('"status":"duplicate"', 1, true) then
      duplicate = duplicate + 1
   elseif status == 200 and body:find('"status":"ok"', 1, true) then
      return
   else
      refused = refused + 1
   end
end

function done(_, latency, _)
   io.write(string.format('{"p50_ms":%.3f,"p99_ms":%.3f}\n', latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
