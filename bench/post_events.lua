-- wrk script for bench/bench_http_wrk.py: POST /events with a ~1 KB hook body per request,
-- each with its own event_uid (a run id, the wrk thread and a zero-padded counter: ordered,
-- as router-ext's clients make them), over 50 sessions.
local counter = 0
local threads = 0
local pad = string.rep("x", 900)
math.randomseed(os.time())
local run = tostring(math.random(1, 2000000000))

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local body = '{"source_app":"bench","session_id":"s' .. (counter % 50) ..
    '","hook_event_type":"PreToolUse","event_uid":"wrk-' .. run .. '-' .. thread_index ..
    '-' .. string.format("%012d", counter) .. '","payload":{"tool_name":"Bash","tool_input":{"command":"ls -la",' ..
    '"description":"' .. pad .. '"},"cwd":"/home/dev/project"}}'
  return wrk.format("POST", "/events", {["Content-Type"] = "application/json"}, body)
end
