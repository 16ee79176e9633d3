-- Where `herald store copy` stopped reading each source, written in the
-- transaction of each batch, so that a copy that was interrupted resumes.
CREATE TABLE herald_copy_progress (
	source     text        PRIMARY KEY,
	after      bigint      NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
