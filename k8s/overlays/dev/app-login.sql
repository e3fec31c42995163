-- Runs once, when the dev Postgres initialises its data directory. The services log in
-- as atelier_svc, a member of atelier_app (the migrations grant that role its rights and
-- keep UPDATE/DELETE of audit_events from it); only the migration Job logs in as the
-- owner, `atelier` (docs/audit.md, "Database roles"). Dev-only password.
CREATE ROLE atelier_app NOLOGIN;
CREATE ROLE atelier_svc LOGIN PASSWORD 'atelier-dev-only-app' IN ROLE atelier_app;
