-- Health-check results kept with each proxy.
ALTER TABLE proxies ADD COLUMN exit_ip TEXT;
ALTER TABLE proxies ADD COLUMN last_checked_at INTEGER;
ALTER TABLE proxies ADD COLUMN exit_country TEXT;
