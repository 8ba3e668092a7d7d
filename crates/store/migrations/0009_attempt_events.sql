-- What became of attempts through each proxy and hour, beyond their own
-- success or failure: failovers, replay refusals and retry-budget denials
-- by fault class, hedges won and lost, time budgets expired, stale idle
-- keep-alive connections. A JSON object of counts, like error_counts.
ALTER TABLE proxy_usage_stats ADD COLUMN event_counts TEXT NOT NULL DEFAULT '{}';
