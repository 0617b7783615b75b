-- Parley's embedded schema, version 1. Times are Unix nanoseconds (0 means
-- "never"), envelopes, key packages and commits are opaque blobs.

CREATE TABLE accounts (
	id         TEXT PRIMARY KEY,
	-- Handles arrive canonical and lower-case; NOCASE keeps them unique even
	-- if a caller forgets to canonicalise.
	handle     TEXT NOT NULL UNIQUE COLLATE NOCASE,
	created_at INTEGER NOT NULL,
	presence   INTEGER NOT NULL DEFAULT 0,
	last_seen  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE devices (
	id          TEXT PRIMARY KEY,
	account_id  TEXT NOT NULL REFERENCES accounts(id),
	signing_key BLOB NOT NULL,
	name        TEXT NOT NULL,
	is_primary  INTEGER NOT NULL,
	added_at    INTEGER NOT NULL,
	revoked_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX devices_account ON devices(account_id);

CREATE TABLE key_log (
	account_id TEXT NOT NULL REFERENCES accounts(id),
	idx        INTEGER NOT NULL,
	entry      BLOB NOT NULL,
	PRIMARY KEY (account_id, idx)
);

-- One-time key packages, claimed oldest first (ascending id).
CREATE TABLE key_packages (
	id        INTEGER PRIMARY KEY,
	device_id TEXT NOT NULL,
	kp        BLOB NOT NULL
);
CREATE INDEX key_packages_device ON key_packages(device_id, id);

CREATE TABLE last_resort_packages (
	device_id TEXT PRIMARY KEY,
	kp        BLOB NOT NULL
);

CREATE TABLE invites (
	code       TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL,
	used       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE link_requests (
	code        TEXT PRIMARY KEY,
	device_id   TEXT NOT NULL,
	signing_key BLOB NOT NULL,
	name        TEXT NOT NULL,
	expires_at  INTEGER NOT NULL
);

-- The last sequence number handed out per device. It outlives the mail it
-- numbered, so sequences never go back after an ack empties a mailbox.
CREATE TABLE mailbox_seq (
	device_id TEXT PRIMARY KEY,
	last_seq  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE mail (
	device_id TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	envelope  BLOB NOT NULL,
	expires   INTEGER NOT NULL,
	PRIMARY KEY (device_id, seq)
);
CREATE INDEX mail_expires ON mail(expires);

-- Message ids seen per sender device, for rejecting replays.
CREATE TABLE message_ids (
	sender  TEXT NOT NULL,
	id      BLOB NOT NULL,
	seen_at INTEGER NOT NULL,
	PRIMARY KEY (sender, id)
) WITHOUT ROWID;
CREATE INDEX message_ids_seen ON message_ids(seen_at);

-- "groups" is an SQL keyword, hence the prefix.
CREATE TABLE mls_groups (
	id         BLOB PRIMARY KEY,
	epoch      INTEGER NOT NULL,
	kind       INTEGER NOT NULL,
	group_info BLOB
);

CREATE TABLE group_accounts (
	group_id   BLOB NOT NULL,
	account_id TEXT NOT NULL,
	PRIMARY KEY (group_id, account_id)
) WITHOUT ROWID;

CREATE TABLE group_members (
	group_id  BLOB NOT NULL,
	device_id TEXT NOT NULL,
	PRIMARY KEY (group_id, device_id)
) WITHOUT ROWID;
CREATE INDEX group_members_device ON group_members(device_id);

-- The commit accepted in each recent epoch, to show a late committer.
CREATE TABLE group_commits (
	group_id   BLOB NOT NULL,
	epoch      INTEGER NOT NULL,
	commit_msg BLOB NOT NULL,
	PRIMARY KEY (group_id, epoch)
);

CREATE TABLE contacts (
	owner TEXT NOT NULL,
	other TEXT NOT NULL,
	PRIMARY KEY (owner, other)
) WITHOUT ROWID;

CREATE TABLE blocks (
	owner TEXT NOT NULL,
	other TEXT NOT NULL,
	PRIMARY KEY (owner, other)
) WITHOUT ROWID;
