-- Notifications, one row each. Times are Unix milliseconds (UTC).
-- read_at IS NULL means unread; expires_at IS NULL means it never expires.
CREATE TABLE notifications (
	id              TEXT    NOT NULL,
	tenant_id       TEXT    NOT NULL,
	user_id         TEXT    NOT NULL,
	seq             INTEGER NOT NULL,
	type            TEXT    NOT NULL,
	title           TEXT    NOT NULL,
	message         TEXT    NOT NULL,
	data            TEXT,
	created_at      INTEGER NOT NULL,
	read_at         INTEGER,
	expires_at      INTEGER,
	group_key       TEXT,
	idempotency_key TEXT
) STRICT;

CREATE UNIQUE INDEX notifications_id ON notifications (id);

-- The feed (newest first), the unread filter, replay (seq order), and the
-- guarantee that a seq is never given twice. This is the only index that
-- every insert touches at a per-user position; each extra one would add a
-- page write per notification.
CREATE UNIQUE INDEX notifications_user_seq ON notifications (tenant_id, user_id, seq);

CREATE UNIQUE INDEX notifications_user_idempotency ON notifications (tenant_id, user_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;

-- PurgeExpired.
CREATE INDEX notifications_expiry ON notifications (expires_at)
	WHERE expires_at IS NOT NULL;

-- Unread notifications that carry an expiry, per user: UnreadCount subtracts
-- those already expired (but not yet purged) from feeds.unread. read_at is
-- always NULL here; listing it lets SQLite see that the index covers the count.
CREATE INDEX notifications_user_expiring ON notifications (tenant_id, user_id, expires_at, read_at)
	WHERE read_at IS NULL AND expires_at IS NOT NULL;

-- One row per user who ever had a notification. last_seq is the last seq
-- given out: the next one is allocated without scanning notifications, and
-- it survives deletes so that seqs are never reused. unread is the number of
-- the user's rows in notifications with read_at IS NULL, expired ones
-- included; the triggers below keep it exact in every transaction.
CREATE TABLE feeds (
	tenant_id TEXT    NOT NULL,
	user_id   TEXT    NOT NULL,
	last_seq  INTEGER NOT NULL,
	unread    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, user_id)
) STRICT, WITHOUT ROWID;

-- Inserts come after the feed row's seq upsert, so the row exists.
CREATE TRIGGER notifications_unread_insert AFTER INSERT ON notifications
	WHEN NEW.read_at IS NULL
BEGIN
	UPDATE feeds SET unread = unread + 1 WHERE tenant_id = NEW.tenant_id AND user_id = NEW.user_id;
END;

CREATE TRIGGER notifications_unread_delete AFTER DELETE ON notifications
	WHEN OLD.read_at IS NULL
BEGIN
	UPDATE feeds SET unread = unread - 1 WHERE tenant_id = OLD.tenant_id AND user_id = OLD.user_id;
END;

CREATE TRIGGER notifications_unread_update AFTER UPDATE OF read_at ON notifications
	WHEN (OLD.read_at IS NULL) != (NEW.read_at IS NULL)
BEGIN
	UPDATE feeds SET unread = unread + (CASE WHEN NEW.read_at IS NULL THEN 1 ELSE -1 END)
	WHERE tenant_id = NEW.tenant_id AND user_id = NEW.user_id;
END;
