DROP TABLE schedules;
DROP TABLE sessions;
DROP TABLE tabs;
