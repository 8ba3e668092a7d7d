DROP TABLE proxies;
DROP TABLE encrypted_credentials;
DROP TABLE vault_keys;
