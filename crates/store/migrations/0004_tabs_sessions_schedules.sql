-- Browser tabs, saved sessions and schedules (used by later components).
CREATE TABLE tabs (
    id         INTEGER PRIMARY KEY,
    identity   TEXT,
    url        TEXT    NOT NULL,
    title      TEXT,
    proxy_id   INTEGER REFERENCES proxies(id) ON DELETE SET NULL,
    assignment TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at  INTEGER
);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    tabs       TEXT    NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE schedules (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    cron        TEXT    NOT NULL,
    job_kind    TEXT    NOT NULL,
    job_config  TEXT    NOT NULL DEFAULT '{}',
    enabled     INTEGER NOT NULL DEFAULT 1,
    last_run_at INTEGER,
    next_run_at INTEGER,
    created_at  INTEGER NOT NULL
);
