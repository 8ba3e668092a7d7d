-- Sticky mappings keep the scope they were learned in: the group and the
-- exit country of the strategy instance that made them ('' for none), so a
-- domain can map to one proxy for requests asking for Germany and another
-- for the rest. Existing mappings were all restored into their config's
-- base scope (its target group, no country), so that is where they go.
CREATE TABLE sticky_session_mappings_new (
    id             INTEGER PRIMARY KEY,
    config_id      INTEGER NOT NULL REFERENCES rotation_configs(id) ON DELETE CASCADE,
    scope_group    TEXT    NOT NULL DEFAULT '',
    scope_country  TEXT    NOT NULL DEFAULT '',
    domain_pattern TEXT    NOT NULL,
    proxy_id       INTEGER NOT NULL REFERENCES proxies(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    uses           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (config_id, scope_group, scope_country, domain_pattern)
);
INSERT INTO sticky_session_mappings_new
    (id, config_id, scope_group, domain_pattern, proxy_id, created_at, expires_at, last_used_at, uses)
SELECT s.id, s.config_id, COALESCE(c.target_group, ''), s.domain_pattern, s.proxy_id,
       s.created_at, s.expires_at, s.last_used_at, s.uses
FROM sticky_session_mappings s JOIN rotation_configs c ON c.id = s.config_id;
DROP TABLE sticky_session_mappings;
ALTER TABLE sticky_session_mappings_new RENAME TO sticky_session_mappings;
CREATE INDEX sticky_session_mappings_expiry ON sticky_session_mappings(expires_at);
