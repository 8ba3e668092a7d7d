-- Back to one mapping per config and domain: the first stored one is kept.
CREATE TABLE sticky_session_mappings_old (
    id             INTEGER PRIMARY KEY,
    config_id      INTEGER NOT NULL REFERENCES rotation_configs(id) ON DELETE CASCADE,
    domain_pattern TEXT    NOT NULL,
    proxy_id       INTEGER NOT NULL REFERENCES proxies(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    uses           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (config_id, domain_pattern)
);
INSERT OR IGNORE INTO sticky_session_mappings_old
    (id, config_id, domain_pattern, proxy_id, created_at, expires_at, last_used_at, uses)
SELECT id, config_id, domain_pattern, proxy_id, created_at, expires_at, last_used_at, uses
FROM sticky_session_mappings ORDER BY id;
DROP TABLE sticky_session_mappings;
ALTER TABLE sticky_session_mappings_old RENAME TO sticky_session_mappings;
CREATE INDEX sticky_session_mappings_expiry ON sticky_session_mappings(expires_at);
