-- Key packages carry the end of their lifetime (Unix nanoseconds), read by
-- the directory from the package at upload: claims skip and delete expired
-- ones. One-time packages stored before this step have no recorded end and
-- would be handed out first (oldest first) even when expired, so they are
-- dropped: each device uploads fresh ones at its next connection, when it
-- sees its supply is empty. A last-resort package is kept with 0 (end not
-- known, never expired by the server) until its device replaces it.
DELETE FROM key_packages;
ALTER TABLE key_packages ADD COLUMN not_after BIGINT NOT NULL DEFAULT 0;
ALTER TABLE last_resort_packages ADD COLUMN not_after BIGINT NOT NULL DEFAULT 0;
