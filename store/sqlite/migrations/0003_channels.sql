-- Channels (issue 4): public, signed broadcasts. Times are Unix
-- nanoseconds, flags 0/1. Followers, reactions, votes and views are kept
-- per account for de-duplication only; every count is a counter column
-- maintained in the same transaction, so reading one never scans them.

CREATE TABLE channels (
	-- rid is the stable rowid the full-text index refers to (a TEXT
	-- primary key's implicit rowid may change on VACUUM).
	rid          INTEGER PRIMARY KEY,
	id           TEXT NOT NULL UNIQUE,
	info         BLOB NOT NULL,
	info_version INTEGER NOT NULL,
	name         TEXT NOT NULL,
	description  TEXT NOT NULL,
	category     TEXT NOT NULL,
	country      TEXT NOT NULL,
	icon         TEXT NOT NULL,
	listed       INTEGER NOT NULL,
	verified     INTEGER NOT NULL DEFAULT 0,
	suspended    INTEGER NOT NULL DEFAULT 0,
	invite_code  TEXT UNIQUE,
	admin_group  BLOB UNIQUE,
	owner        TEXT NOT NULL,
	head_seq     INTEGER NOT NULL DEFAULT 0,
	info_seq     INTEGER NOT NULL DEFAULT 0,
	followers    INTEGER NOT NULL DEFAULT 0,
	posts_week   INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL
);
-- The directory reads listed, unsuspended channels in one of three orders.
CREATE INDEX channels_dir_newest ON channels(created_at DESC, id) WHERE listed = 1 AND suspended = 0;
CREATE INDEX channels_dir_followers ON channels(followers DESC, id) WHERE listed = 1 AND suspended = 0;
CREATE INDEX channels_dir_active ON channels(posts_week DESC, id) WHERE listed = 1 AND suspended = 0;
CREATE INDEX channels_dir_category ON channels(category, followers DESC, id) WHERE listed = 1 AND suspended = 0;
CREATE INDEX channels_dir_country ON channels(country, followers DESC, id) WHERE listed = 1 AND suspended = 0;

-- Full-text index of name and description (prefix queries, accents
-- folded), kept in step with channels by triggers.
CREATE VIRTUAL TABLE channels_fts USING fts5(
	name, description, content = 'channels', content_rowid = 'rid',
	tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER channels_fts_insert AFTER INSERT ON channels BEGIN
	INSERT INTO channels_fts (rowid, name, description) VALUES (new.rid, new.name, new.description);
END;
CREATE TRIGGER channels_fts_delete AFTER DELETE ON channels BEGIN
	INSERT INTO channels_fts (channels_fts, rowid, name, description) VALUES ('delete', old.rid, old.name, old.description);
END;
CREATE TRIGGER channels_fts_update AFTER UPDATE OF name, description ON channels BEGIN
	INSERT INTO channels_fts (channels_fts, rowid, name, description) VALUES ('delete', old.rid, old.name, old.description);
	INSERT INTO channels_fts (rowid, name, description) VALUES (new.rid, new.name, new.description);
END;

CREATE TABLE channel_keys (
	channel_id TEXT NOT NULL,
	idx        INTEGER NOT NULL,
	entry      BLOB NOT NULL,
	added_at   INTEGER NOT NULL,
	PRIMARY KEY (channel_id, idx)
) WITHOUT ROWID;

-- Owner (3) and admins (2).
CREATE TABLE channel_roles (
	channel_id TEXT NOT NULL,
	account_id TEXT NOT NULL,
	role       INTEGER NOT NULL,
	since      INTEGER NOT NULL,
	PRIMARY KEY (channel_id, account_id)
) WITHOUT ROWID;
CREATE INDEX channel_roles_account ON channel_roles(account_id);

CREATE TABLE channel_invites (
	channel_id TEXT NOT NULL,
	account_id TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (channel_id, account_id)
) WITHOUT ROWID;
CREATE INDEX channel_invites_account ON channel_invites(account_id);
CREATE INDEX channel_invites_expires ON channel_invites(expires_at);

CREATE TABLE channel_followers (
	channel_id TEXT NOT NULL,
	account_id TEXT NOT NULL,
	muted      INTEGER NOT NULL,
	since      INTEGER NOT NULL,
	PRIMARY KEY (channel_id, account_id)
) WITHOUT ROWID;
CREATE INDEX channel_followers_account ON channel_followers(account_id);

-- Follower growth per UTC day.
CREATE TABLE channel_days (
	channel_id TEXT NOT NULL,
	day        INTEGER NOT NULL,
	follows    INTEGER NOT NULL,
	unfollows  INTEGER NOT NULL,
	PRIMARY KEY (channel_id, day)
) WITHOUT ROWID;

CREATE TABLE posts (
	channel_id   TEXT NOT NULL,
	post_id      BLOB NOT NULL,
	version      INTEGER NOT NULL,
	signed       BLOB,              -- NULL for a tombstone or an expired post
	state        INTEGER NOT NULL,  -- proto.ChannelPostState
	author       TEXT NOT NULL,     -- writer of the latest version; never served to followers
	seq          INTEGER NOT NULL,  -- latest change; 0 while unpublished
	publish_at   INTEGER NOT NULL,
	published_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	edited       INTEGER NOT NULL,
	deleted      INTEGER NOT NULL,
	expired      INTEGER NOT NULL,
	in_week      INTEGER NOT NULL,  -- counted in channels.posts_week
	poll_options INTEGER NOT NULL,
	views        INTEGER NOT NULL,
	reacted      INTEGER NOT NULL,
	voters       INTEGER NOT NULL,
	PRIMARY KEY (channel_id, post_id)
);
CREATE INDEX posts_sync ON posts(channel_id, seq) WHERE seq > 0;
CREATE INDEX posts_latest ON posts(channel_id, published_at) WHERE state = 1 AND deleted = 0 AND expired = 0;
CREATE INDEX posts_scheduled ON posts(publish_at) WHERE state = 3;
CREATE INDEX posts_expiry ON posts(expires_at) WHERE state = 1 AND expired = 0;
CREATE INDEX posts_expired ON posts(expires_at) WHERE expired = 1;
CREATE INDEX posts_unpublished ON posts(updated_at) WHERE state IN (2, 4);
CREATE INDEX posts_week ON posts(published_at) WHERE in_week = 1;

CREATE TABLE post_media (
	channel_id TEXT NOT NULL,
	post_id    BLOB NOT NULL,
	hash       TEXT NOT NULL,
	PRIMARY KEY (channel_id, post_id, hash)
) WITHOUT ROWID;
CREATE INDEX post_media_hash ON post_media(channel_id, hash);

CREATE TABLE post_reaction_counts (
	channel_id TEXT NOT NULL,
	post_id    BLOB NOT NULL,
	emoji      TEXT NOT NULL,
	count      INTEGER NOT NULL,
	PRIMARY KEY (channel_id, post_id, emoji)
) WITHOUT ROWID;

CREATE TABLE post_option_counts (
	channel_id TEXT NOT NULL,
	post_id    BLOB NOT NULL,
	option_idx INTEGER NOT NULL,
	count      INTEGER NOT NULL,
	PRIMARY KEY (channel_id, post_id, option_idx)
) WITHOUT ROWID;

CREATE TABLE post_reactions (
	channel_id TEXT NOT NULL,
	post_id    BLOB NOT NULL,
	account_id TEXT NOT NULL,
	emoji      TEXT NOT NULL,
	PRIMARY KEY (channel_id, post_id, account_id)
) WITHOUT ROWID;

CREATE TABLE post_votes (
	channel_id TEXT NOT NULL,
	post_id    BLOB NOT NULL,
	account_id TEXT NOT NULL,
	option_idx INTEGER NOT NULL,
	PRIMARY KEY (channel_id, post_id, account_id, option_idx)
) WITHOUT ROWID;

CREATE TABLE post_views (
	channel_id TEXT NOT NULL,
	post_id    BLOB NOT NULL,
	account_id TEXT NOT NULL,
	PRIMARY KEY (channel_id, post_id, account_id)
) WITHOUT ROWID;

CREATE TABLE channel_media (
	channel_id  TEXT NOT NULL,
	hash        TEXT NOT NULL,
	mime        TEXT NOT NULL,
	size        INTEGER NOT NULL,
	width       INTEGER NOT NULL,
	height      INTEGER NOT NULL,
	thumbnail   TEXT NOT NULL,
	uploaded_at INTEGER NOT NULL,
	PRIMARY KEY (channel_id, hash)
) WITHOUT ROWID;
CREATE INDEX channel_media_hash ON channel_media(hash);
CREATE INDEX channel_media_uploaded ON channel_media(uploaded_at);
CREATE INDEX channel_media_thumbnail ON channel_media(channel_id, thumbnail);

CREATE TABLE channel_reports (
	id         INTEGER PRIMARY KEY,
	channel_id TEXT NOT NULL,
	post_id    BLOB NOT NULL,       -- empty for the channel itself
	reporter   TEXT NOT NULL,
	reason     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (reporter, channel_id, post_id)
);
CREATE INDEX channel_reports_channel ON channel_reports(channel_id);
CREATE INDEX channel_reports_created ON channel_reports(created_at, id);

-- Secrets the nodes share, e.g. the key of media tokens (a token made on
-- one node is checked on another).
CREATE TABLE server_secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
