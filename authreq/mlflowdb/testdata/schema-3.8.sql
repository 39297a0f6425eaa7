-- MLflow's basic-auth database as MLflow 3.8 leaves it (per-resource
-- permission tables), written from mlflow/server/auth/db/models.py and the
-- migrations 8606fa83a998_initial_migration.py and
-- 0965eb92f5f0_add_scorer_permissions.py. Plain SQL that SQLite and
-- PostgreSQL both take (ids are given explicitly by the tests).
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
CREATE TABLE users (
	id INTEGER NOT NULL PRIMARY KEY,
	username VARCHAR(255) UNIQUE,
	password_hash VARCHAR(255),
	is_admin BOOLEAN
);
CREATE TABLE experiment_permissions (
	id INTEGER NOT NULL PRIMARY KEY,
	experiment_id VARCHAR(255) NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users (id),
	permission VARCHAR(255),
	CONSTRAINT unique_experiment_user UNIQUE (experiment_id, user_id)
);
CREATE TABLE registered_model_permissions (
	id INTEGER NOT NULL PRIMARY KEY,
	name VARCHAR(255) NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users (id),
	permission VARCHAR(255),
	CONSTRAINT unique_name_user UNIQUE (name, user_id)
);
CREATE TABLE scorer_permissions (
	id INTEGER NOT NULL PRIMARY KEY,
	experiment_id VARCHAR(255) NOT NULL,
	scorer_name VARCHAR(256) NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users (id),
	permission VARCHAR(255),
	CONSTRAINT unique_scorer_user UNIQUE (experiment_id, scorer_name, user_id)
);
INSERT INTO alembic_version VALUES ('0965eb92f5f0');
