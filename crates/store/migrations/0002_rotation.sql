-- Rotation configs, their rules, sticky mappings, rotation events, breakers.
CREATE TABLE rotation_configs (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    strategy        TEXT    NOT NULL,
    target_group    TEXT,
    common_config   TEXT    NOT NULL DEFAULT '{}',
    strategy_config TEXT    NOT NULL DEFAULT '{}',
    is_active       INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- One active config per target group (NULL = the whole pool). A partial index,
-- not UNIQUE(is_active, target_group), which would also forbid two inactive ones.
CREATE UNIQUE INDEX rotation_configs_one_active
    ON rotation_configs(COALESCE(target_group, '')) WHERE is_active = 1;

CREATE TABLE proxy_rotation_rules (
    id              INTEGER PRIMARY KEY,
    config_id       INTEGER NOT NULL REFERENCES rotation_configs(id) ON DELETE CASCADE,
    name            TEXT    NOT NULL DEFAULT '',
    priority        INTEGER NOT NULL DEFAULT 0,
    condition_logic TEXT    NOT NULL DEFAULT 'and' CHECK (condition_logic IN ('and','or')),
    conditions      TEXT    NOT NULL DEFAULT '[]',
    actions         TEXT    NOT NULL,
    stop_on_match   INTEGER NOT NULL DEFAULT 0,
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL
);
CREATE INDEX proxy_rotation_rules_by_config ON proxy_rotation_rules(config_id, priority DESC, id);

CREATE TABLE sticky_session_mappings (
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
CREATE INDEX sticky_session_mappings_expiry ON sticky_session_mappings(expires_at);

CREATE TABLE rotation_events (
    id                INTEGER PRIMARY KEY,
    config_id         INTEGER,
    key_kind          TEXT    NOT NULL,
    key_value         TEXT,
    previous_proxy_id INTEGER,
    new_proxy_id      INTEGER,
    reason            TEXT    NOT NULL CHECK (reason IN
        ('scheduled','failure','manual','startup','rule_triggered','ttl_expired','recovered')),
    rule_id           INTEGER,
    created_at        INTEGER NOT NULL
);
CREATE INDEX rotation_events_recent ON rotation_events(created_at DESC);

CREATE TABLE circuit_breakers (
    proxy_id   INTEGER PRIMARY KEY REFERENCES proxies(id) ON DELETE CASCADE,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
