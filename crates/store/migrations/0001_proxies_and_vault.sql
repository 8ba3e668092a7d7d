-- The proxy pool and the credential vault.
CREATE TABLE vault_keys (
    key_id        INTEGER PRIMARY KEY,
    kdf           TEXT    NOT NULL CHECK (kdf = 'argon2id'),
    kdf_memory_kib INTEGER NOT NULL,
    kdf_iterations INTEGER NOT NULL,
    kdf_parallelism INTEGER NOT NULL,
    salt          BLOB    NOT NULL,
    wrapped_key   BLOB    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE encrypted_credentials (
    id                 INTEGER PRIMARY KEY,
    credential_type    TEXT    NOT NULL DEFAULT 'proxy',
    encrypted_username BLOB    NOT NULL,
    encrypted_password BLOB    NOT NULL,
    encryption_version INTEGER NOT NULL,
    key_id             INTEGER NOT NULL REFERENCES vault_keys(key_id),
    provider           TEXT,
    access_level       TEXT    NOT NULL DEFAULT 'read',
    access_count       INTEGER NOT NULL DEFAULT 0,
    last_accessed_at   INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE proxies (
    id             INTEGER PRIMARY KEY,
    protocol       TEXT    NOT NULL CHECK (protocol IN ('http','https','socks4','socks4a','socks5')),
    host           TEXT    NOT NULL,
    port           INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    credential_id  INTEGER REFERENCES encrypted_credentials(id) ON DELETE SET NULL,
    -- Keyed hash of the username, so duplicates are found without decrypting.
    credential_fingerprint TEXT NOT NULL DEFAULT '',
    country        TEXT CHECK (country IS NULL OR length(country) = 2),
    region         TEXT,
    city           TEXT,
    weight         INTEGER NOT NULL DEFAULT 50 CHECK (weight BETWEEN 0 AND 100),
    rotation_group TEXT,
    tags           TEXT    NOT NULL DEFAULT '[]',
    enabled        INTEGER NOT NULL DEFAULT 1,
    status         TEXT    NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown','up','down')),
    latency_ms     REAL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX proxies_identity ON proxies(protocol, host, port, credential_fingerprint);
CREATE INDEX proxies_group_weight ON proxies(rotation_group, weight DESC);
