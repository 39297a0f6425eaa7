-- MLflow's basic-auth database with the role tables of MLflow 3.13 and
-- later, written from the migration c3d4e5f6a7b8_add_rbac_tables.py (roles,
-- role_permissions, user_role_assignments) over the 3.8-era tables of
-- schema-3.8.sql, which that migration leaves on disk. Plain SQL that
-- SQLite and PostgreSQL both take (ids are given explicitly by the tests).
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
CREATE TABLE roles (
	id INTEGER NOT NULL PRIMARY KEY,
	name VARCHAR(255) NOT NULL,
	workspace VARCHAR(63) NOT NULL,
	description VARCHAR(1024),
	CONSTRAINT unique_workspace_role_name UNIQUE (workspace, name)
);
CREATE INDEX idx_roles_workspace ON roles (workspace);
CREATE TABLE role_permissions (
	id INTEGER NOT NULL PRIMARY KEY,
	role_id INTEGER NOT NULL REFERENCES roles (id),
	resource_type VARCHAR(64) NOT NULL,
	resource_pattern VARCHAR(255) NOT NULL,
	permission VARCHAR(255) NOT NULL,
	CONSTRAINT unique_role_resource_perm UNIQUE (role_id, resource_type, resource_pattern)
);
CREATE INDEX idx_role_permissions_role_id ON role_permissions (role_id);
CREATE TABLE user_role_assignments (
	id INTEGER NOT NULL PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users (id),
	role_id INTEGER NOT NULL REFERENCES roles (id),
	CONSTRAINT unique_user_role UNIQUE (user_id, role_id)
);
CREATE INDEX idx_user_role_assignments_user_id ON user_role_assignments (user_id);
CREATE INDEX idx_user_role_assignments_role_id ON user_role_assignments (role_id);
INSERT INTO alembic_version VALUES ('c3d4e5f6a7b8');
