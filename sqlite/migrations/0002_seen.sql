-- The seen state, apart from read: seen_at IS NULL means unseen.
ALTER TABLE notifications ADD COLUMN seen_at INTEGER;

-- unseen is to seen_at what unread is to read_at. Every notification stored
-- before this migration is unseen.
ALTER TABLE feeds ADD COLUMN unseen INTEGER NOT NULL DEFAULT 0;
UPDATE feeds SET unseen = (SELECT count(*) FROM notifications n
	WHERE n.tenant_id = feeds.tenant_id AND n.user_id = feeds.user_id AND n.seen_at IS NULL);

-- Unseen notifications that carry an expiry, per user, as for unread.
CREATE INDEX notifications_user_expiring_unseen ON notifications (tenant_id, user_id, expires_at, seen_at)
	WHERE seen_at IS NULL AND expires_at IS NOT NULL;

-- One feed update per inserted or deleted row for both counters.
DROP TRIGGER notifications_unread_insert;
DROP TRIGGER notifications_unread_delete;

CREATE TRIGGER notifications_counts_insert AFTER INSERT ON notifications
	WHEN NEW.read_at IS NULL OR NEW.seen_at IS NULL
BEGIN
	UPDATE feeds SET unread = unread + (NEW.read_at IS NULL), unseen = unseen + (NEW.seen_at IS NULL)
	WHERE tenant_id = NEW.tenant_id AND user_id = NEW.user_id;
END;

CREATE TRIGGER notifications_counts_delete AFTER DELETE ON notifications
	WHEN OLD.read_at IS NULL OR OLD.seen_at IS NULL
BEGIN
	UPDATE feeds SET unread = unread - (OLD.read_at IS NULL), unseen = unseen - (OLD.seen_at IS NULL)
	WHERE tenant_id = OLD.tenant_id AND user_id = OLD.user_id;
END;

CREATE TRIGGER notifications_unseen_update AFTER UPDATE OF seen_at ON notifications
	WHEN (OLD.seen_at IS NULL) != (NEW.seen_at IS NULL)
BEGIN
	UPDATE feeds SET unseen = unseen + (CASE WHEN NEW.seen_at IS NULL THEN 1 ELSE -1 END)
	WHERE tenant_id = NEW.tenant_id AND user_id = NEW.user_id;
END;
