ALTER TABLE identities DROP COLUMN geo_policy;
