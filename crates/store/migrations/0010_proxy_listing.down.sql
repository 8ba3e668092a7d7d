DROP INDEX idx_proxies_latency;
DROP INDEX idx_proxies_group_latency;
DROP INDEX idx_proxies_host;
DROP INDEX idx_proxies_group_host;
