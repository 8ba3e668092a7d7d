-- Hourly usage statistics per proxy and the activity log.
CREATE TABLE proxy_usage_stats (
    proxy_id            INTEGER NOT NULL,
    hour_start          INTEGER NOT NULL,
    total_requests      INTEGER NOT NULL DEFAULT 0,
    successful_requests INTEGER NOT NULL DEFAULT 0,
    failed_requests     INTEGER NOT NULL DEFAULT 0,
    latency_sum_ms      REAL    NOT NULL DEFAULT 0,
    latency_count       INTEGER NOT NULL DEFAULT 0,
    avg_latency_ms      REAL,
    p95_latency_ms      REAL,
    latency_histogram   BLOB,
    bytes_sent          INTEGER NOT NULL DEFAULT 0,
    bytes_received      INTEGER NOT NULL DEFAULT 0,
    error_counts        TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (proxy_id, hour_start)
) WITHOUT ROWID;
CREATE INDEX proxy_usage_stats_hour ON proxy_usage_stats(hour_start);

CREATE TABLE activity_logs (
    id         INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    level      TEXT    NOT NULL CHECK (level IN ('debug','info','warn','error')),
    category   TEXT    NOT NULL,
    message    TEXT    NOT NULL,
    details    TEXT
);
CREATE INDEX activity_logs_recent ON activity_logs(created_at DESC);
