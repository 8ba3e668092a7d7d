-- The proxy list's orders (crates/store/src/repo/proxy_page.rs), so a page
-- sorted by latency or host, alone or within a group, reads its rows from
-- an index instead of sorting 100,000 proxies. The expressions are the
-- page query's own, character for character.
CREATE INDEX idx_proxies_latency ON proxies (COALESCE(latency_ms, 1e300), id);
CREATE INDEX idx_proxies_group_latency ON proxies (rotation_group, COALESCE(latency_ms, 1e300), id);
CREATE INDEX idx_proxies_host ON proxies ((lower(host) || ':' || printf('%05d', port)), id);
CREATE INDEX idx_proxies_group_host ON proxies (rotation_group, (lower(host) || ':' || printf('%05d', port)), id);
