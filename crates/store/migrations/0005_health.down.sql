ALTER TABLE proxies DROP COLUMN exit_country;
ALTER TABLE proxies DROP COLUMN last_checked_at;
ALTER TABLE proxies DROP COLUMN exit_ip;
