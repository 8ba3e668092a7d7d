DROP TABLE activity_logs;
DROP TABLE proxy_usage_stats;
