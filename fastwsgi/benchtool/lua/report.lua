-- Appended to every wrk script: print the run's numbers as one JSON line.
-- bench/wrk.py finds the line by its WRK_JSON prefix; wrk's own text is ignored.
local function num(x)
  -- NaN/inf (no request completed) are not JSON.
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  return string.format("%.3f", x)
end

done = function(summary, latency, requests)
  local e = summary.errors
  local lat = "null"
  if summary.requests > 0 then
    lat = string.format(
      '{"min": %s, "mean": %s, "stdev": %s, "max": %s, "p50": %s, "p90": %s, "p99": %s, "p999": %s}',
      num(latency.min), num(latency.mean), num(latency.stdev), num(latency.max),
      num(latency:percentile(50)), num(latency:percentile(90)),
      num(latency:percentile(99)), num(latency:percentile(99.9)))
  end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": %s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout, lat))
end
