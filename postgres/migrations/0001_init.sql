-- Ids and keys are opaque: they compare as bytes (COLLATE "C"), which is
-- cheaper than a language's collation and the order in which Go sorts the
-- head rows that a transaction locks.

-- One row per user who ever had a notification: the head of the user's
-- feed. last_seq is the last seq given out; creates take this row's lock
-- (an upsert) in their transaction, so that seqs are gap-free and in commit
-- order across nodes, and it survives deletes so that seqs are never
-- reused. unread and unseen count the user's rows in notifications with
-- read_at IS NULL and seen_at IS NULL, expired ones included; every write
-- keeps them exact in its own transaction.
CREATE TABLE feeds (
	tenant_id text   COLLATE "C" NOT NULL,
	user_id   text   COLLATE "C" NOT NULL,
	last_seq  bigint NOT NULL,
	unread    bigint NOT NULL DEFAULT 0,
	unseen    bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant_id, user_id)
);

-- Notifications, one row each. read_at IS NULL means unread, seen_at IS
-- NULL unseen, expires_at IS NULL never expires. data is kept as the JSON
-- text the sender gave.
CREATE TABLE notifications (
	id              text        COLLATE "C" NOT NULL PRIMARY KEY,
	tenant_id       text        COLLATE "C" NOT NULL,
	user_id         text        COLLATE "C" NOT NULL,
	seq             bigint      NOT NULL,
	type            text        NOT NULL,
	title           text        NOT NULL,
	message         text        NOT NULL,
	data            json,
	created_at      timestamptz NOT NULL,
	read_at         timestamptz,
	seen_at         timestamptz,
	expires_at      timestamptz,
	group_key       text,
	idempotency_key text        COLLATE "C"
);

-- The feed (newest first), the unread filter, replay (seq order), and the
-- guarantee that a seq is never given twice.
CREATE UNIQUE INDEX notifications_user_seq ON notifications (tenant_id, user_id, seq);

CREATE UNIQUE INDEX notifications_user_idempotency ON notifications (tenant_id, user_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;

-- PurgeExpired.
CREATE INDEX notifications_expiry ON notifications (expires_at)
	WHERE expires_at IS NOT NULL;

-- Unread or unseen notifications that carry an expiry, per user: the counts
-- subtract those already expired (but not yet purged) from the feed's.
CREATE INDEX notifications_user_expiring ON notifications (tenant_id, user_id, expires_at)
	WHERE expires_at IS NOT NULL AND (read_at IS NULL OR seen_at IS NULL);
