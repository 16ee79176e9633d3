package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"herald/postgres"
	"herald/sqlite"
)

// runStore runs `herald store copy --from herald.db --to postgres://...`:
// it moves a one-node deployment's notifications, with their seqs, read
// and seen state and idempotency keys, and every user's feed head, from
// the SQLite file to PostgreSQL. It copies in batches, each one
// transaction that records how far it got, so that an interrupted copy
// resumes where it stopped when run again; a copy run again after new
// notifications were stored in the file copies only those. It ends by
// comparing the number of notifications of each user on both sides.
func runStore(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		return errors.New("store: usage: herald store copy --from herald.db --to postgres://... (or DATABASE_URL)")
	}
	fs := flag.NewFlagSet("store copy", flag.ContinueOnError)
	from := fs.String("from", "herald.db", "SQLite database file to copy from")
	to := fs.String("to", env("DATABASE_URL", ""), "PostgreSQL URL to copy to (env DATABASE_URL)")
	batch := fs.Int("batch", 1000, "notifications per transaction (1 to 1000)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("store copy: --to (or DATABASE_URL) is required")
	}
	if *batch < 1 || *batch > 1000 {
		return errors.New("store copy: --batch must be 1 to 1000")
	}
	path, err := filepath.Abs(*from)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	src, err := sqlite.Open(path)
	if err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, *to, postgres.Options{MaxConns: 2})
	if err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	defer dst.Close()

	source := "sqlite:" + path
	after, err := dst.CopyProgress(ctx, source)
	if err != nil {
		return err
	}
	if after > 0 {
		fmt.Fprintf(out, "resuming the copy of %s after row %d\n", path, after)
	}
	copied := 0
	for {
		records, next, err := src.Export(ctx, after, *batch)
		if err != nil {
			return err
		}
		if len(records) == 0 {
			break
		}
		n, err := dst.Import(ctx, source, records, next)
		if err != nil {
			return err
		}
		copied += n
		after = next
	}
	heads, err := src.Heads(ctx)
	if err != nil {
		return err
	}
	if err := dst.ImportHeads(ctx, heads); err != nil {
		return err
	}

	want, err := src.StoredCounts(ctx)
	if err != nil {
		return err
	}
	got, err := dst.StoredCounts(ctx)
	if err != nil {
		return err
	}
	var wrong []string
	total := 0
	for user, n := range want {
		total += n
		if got[user] != n {
			wrong = append(wrong, fmt.Sprintf("%q/%q: %d in the file, %d in PostgreSQL", user[0], user[1], n, got[user]))
		}
	}
	slices.Sort(wrong)
	fmt.Fprintf(out, "copied %d notifications; %d notifications of %d users in %s, %d feed heads\n", copied, total, len(want), path, len(heads))
	if len(wrong) > 0 {
		return fmt.Errorf("store copy: the counts of %d users differ, e.g. %s", len(wrong), wrong[0])
	}
	fmt.Fprintln(out, "verified: every user has as many notifications in PostgreSQL as in the file")
	return nil
}
