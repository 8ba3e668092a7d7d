ALTER TABLE proxy_usage_stats DROP COLUMN event_counts;
