-- An identity's own geo policy (measured, configured or strict); NULL
-- follows vip serve's browser.geo_policy.
ALTER TABLE identities ADD COLUMN geo_policy TEXT;
