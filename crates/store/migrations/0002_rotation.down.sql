DROP TABLE circuit_breakers;
DROP TABLE rotation_events;
DROP TABLE sticky_session_mappings;
DROP TABLE proxy_rotation_rules;
DROP TABLE rotation_configs;
