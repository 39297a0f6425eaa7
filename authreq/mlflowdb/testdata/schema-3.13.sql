-- MLflow's basic-auth database with the role tables of MLflow 3.13 and
-- later, written from the migrations 2ed73881770d_workspace_permissions.py
-- (workspace_permissions; a workspace column in
-- registered_model_permissions) and c3d4e5f6a7b8_add_rbac_tables.py (roles,
-- role_permissions, user_role_assignments) over the 3.8-era tables of
-- schema-3.8.sql, which e5f6a7b8c9d0_migrate_permissions_to_roles.py copies
-- into role_permissions and leaves on disk, no longer maintained. The
-- gateway_*_permissions tables are left out: authreq reads none of them.
-- Plain SQL that SQLite and PostgreSQL both take (ids are given explicitly
-- by the tests).
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
	workspace VARCHAR(63) NOT NULL DEFAULT 'default',
	CONSTRAINT unique_workspace_name_user UNIQUE (workspace, name, user_id)
);
CREATE TABLE scorer_permissions (
	id INTEGER NOT NULL PRIMARY KEY,
	experiment_id VARCHAR(255) NOT NULL,
	scorer_name VARCHAR(256) NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users (id),
	permission VARCHAR(255),
	CONSTRAINT unique_scorer_user UNIQUE (experiment_id, scorer_name, user_id)
);
CREATE TABLE workspace_permissions (
	workspace VARCHAR(63) NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users (id),
	permission VARCHAR(32) NOT NULL,
	CONSTRAINT workspace_permissions_pk PRIMARY KEY (workspace, user_id)
);
CREATE INDEX idx_workspace_permissions_user_id ON workspace_permissions (user_id);
CREATE INDEX idx_workspace_permissions_workspace ON workspace_permissions (workspace);
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
INSERT INTO alembic_version VALUES ('e5f6a7b8c9d0');
