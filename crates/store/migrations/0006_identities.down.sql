DROP INDEX tabs_open;
ALTER TABLE tabs DROP COLUMN webrtc_policy;
ALTER TABLE tabs DROP COLUMN blocked;
DROP TABLE identities;
