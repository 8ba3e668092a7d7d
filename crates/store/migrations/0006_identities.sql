-- Named browser identities: their fingerprint seed and saved storage
-- (cookies, localStorage, IndexedDB) sealed by the vault, their assignment
-- and WebRTC policy in the clear. Tabs keep their blocked-request count.
CREATE TABLE identities (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    key_id            INTEGER NOT NULL,
    encrypted_seed    BLOB    NOT NULL,
    encrypted_storage BLOB,
    assignment        TEXT    NOT NULL DEFAULT '{}',
    webrtc_policy     TEXT    NOT NULL DEFAULT 'disable_non_proxied_udp',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
ALTER TABLE tabs ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tabs ADD COLUMN webrtc_policy TEXT;
CREATE INDEX tabs_open ON tabs (closed_at);
