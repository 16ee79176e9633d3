//go:build !linux

package bench

import (
	"context"
	"errors"
	"io"
)

// Scenarios are the names Main accepts.
var Scenarios = []string{"conns", "fanout", "emit", "notify"}

// Main reports that the load tool needs Linux: it drives its connections
// from epoll.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("herald bench runs on Linux only (it drives its connections from epoll)")
}
