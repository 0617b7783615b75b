-- Parley's PostgreSQL schema, version 1. Times are Unix nanoseconds (0 means
-- "never"); envelopes, key packages and commits are opaque bytea.

CREATE TABLE accounts (
	id         TEXT PRIMARY KEY,
	handle     TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	presence   INTEGER NOT NULL DEFAULT 0,
	last_seen  BIGINT NOT NULL DEFAULT 0
);
-- Handles arrive canonical and lower-case; the index on lower() keeps them
-- unique even if a caller forgets to canonicalise.
CREATE UNIQUE INDEX accounts_handle ON accounts (lower(handle));

CREATE TABLE devices (
	id          TEXT PRIMARY KEY,
	account_id  TEXT NOT NULL REFERENCES accounts(id),
	signing_key BYTEA NOT NULL,
	name        TEXT NOT NULL,
	is_primary  BOOLEAN NOT NULL,
	added_at    BIGINT NOT NULL,
	revoked_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX devices_account ON devices(account_id);

CREATE TABLE key_log (
	account_id TEXT NOT NULL REFERENCES accounts(id),
	idx        BIGINT NOT NULL,
	entry      BYTEA NOT NULL,
	PRIMARY KEY (account_id, idx)
);

-- One-time key packages, claimed oldest first (ascending id).
CREATE TABLE key_packages (
	id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	device_id TEXT NOT NULL,
	kp        BYTEA NOT NULL
);
CREATE INDEX key_packages_device ON key_packages(device_id, id);

CREATE TABLE last_resort_packages (
	device_id TEXT PRIMARY KEY,
	kp        BYTEA NOT NULL
);

CREATE TABLE invites (
	code       TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL,
	used       BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE link_requests (
	code        TEXT PRIMARY KEY,
	device_id   TEXT NOT NULL,
	signing_key BYTEA NOT NULL,
	name        TEXT NOT NULL,
	expires_at  BIGINT NOT NULL
);

-- The last sequence number handed out per device, updated in the same
-- transaction as the mail it numbers: its row lock orders concurrent
-- writers (on any node) so sequences are gap-free and increasing.
CREATE TABLE mailbox_seq (
	device_id TEXT PRIMARY KEY,
	last_seq  BIGINT NOT NULL
);

CREATE TABLE mail (
	device_id TEXT NOT NULL,
	seq       BIGINT NOT NULL,
	envelope  BYTEA NOT NULL,
	expires   BIGINT NOT NULL,
	PRIMARY KEY (device_id, seq)
);
CREATE INDEX mail_expires ON mail(expires);

-- Message ids seen per sender device, for rejecting replays.
CREATE TABLE message_ids (
	sender  TEXT NOT NULL,
	id      BYTEA NOT NULL,
	seen_at BIGINT NOT NULL,
	PRIMARY KEY (sender, id)
);
CREATE INDEX message_ids_seen ON message_ids(seen_at);

CREATE TABLE mls_groups (
	id         BYTEA PRIMARY KEY,
	epoch      BIGINT NOT NULL,
	kind       INTEGER NOT NULL,
	group_info BYTEA
);

CREATE TABLE group_accounts (
	group_id   BYTEA NOT NULL,
	account_id TEXT NOT NULL,
	PRIMARY KEY (group_id, account_id)
);

CREATE TABLE group_members (
	group_id  BYTEA NOT NULL,
	device_id TEXT NOT NULL,
	PRIMARY KEY (group_id, device_id)
);
CREATE INDEX group_members_device ON group_members(device_id);

-- The commit accepted in each recent epoch, to show a late committer.
CREATE TABLE group_commits (
	group_id   BYTEA NOT NULL,
	epoch      BIGINT NOT NULL,
	commit_msg BYTEA NOT NULL,
	PRIMARY KEY (group_id, epoch)
);

CREATE TABLE contacts (
	owner TEXT NOT NULL,
	other TEXT NOT NULL,
	PRIMARY KEY (owner, other)
);

CREATE TABLE blocks (
	owner TEXT NOT NULL,
	other TEXT NOT NULL,
	PRIMARY KEY (owner, other)
);
