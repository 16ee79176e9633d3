package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"herald/socketio"
)

// recoverySettings are the flags of Socket.IO connection state recovery.
type recoverySettings struct {
	Window   time.Duration
	MaxBytes int
}

// register adds the flags; the window's flag is a string so that its env
// var, HERALD_RECOVERY_WINDOW, is checked with it by check.
func (r *recoverySettings) register(fs *flag.FlagSet) *string {
	fs.IntVar(&r.MaxBytes, "recovery-max-bytes", 64<<20, "bytes of recent broadcasts kept for connection state recovery, every room together")
	return fs.String("recovery-window", env("HERALD_RECOVERY_WINDOW", "2m"), "how long a client whose transport dropped may come back with its socket id, rooms and missed events (socket.recovered); 0 turns recovery off (env HERALD_RECOVERY_WINDOW)")
}

func (r *recoverySettings) check(window string) error {
	d, err := time.ParseDuration(window)
	if err != nil || d < 0 {
		return fmt.Errorf("serve: invalid --recovery-window %q: a duration such as 2m, or 0 for off", window)
	}
	if r.MaxBytes < 0 {
		return fmt.Errorf("serve: invalid --recovery-max-bytes %d", r.MaxBytes)
	}
	r.Window = d
	return nil
}

func (r recoverySettings) options() socketio.RecoveryOptions {
	return socketio.RecoveryOptions{Window: r.Window, MaxBytes: r.MaxBytes}
}

// recoveryCollectors export the recovery counters.
func recoveryCollectors(io *socketio.Server) []prometheus.Collector {
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_recovery_attempts_total",
			Help: "Socket.IO connections that asked to recover a dropped session (pid sent)."},
			func() float64 { return float64(io.RecoveryStats().Attempts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_recovery_succeeded_total",
			Help: "Recoveries that restored the socket id, rooms and missed events."},
			func() float64 { return float64(io.RecoveryStats().Recovered) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "herald_recovery_ring_bytes",
			Help: "Bytes of recent broadcasts kept for recovery."},
			func() float64 { return float64(io.RecoveryStats().RingBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "herald_recovery_sessions",
			Help: "Dropped sessions kept for recovery."},
			func() float64 { return float64(io.RecoveryStats().Sessions) }),
	}
	for _, reason := range socketio.RecoveryReasons() {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_recovery_failed_total",
			Help: "Recoveries that fell back to a normal connection, by reason.", ConstLabels: prometheus.Labels{"reason": reason}},
			func() float64 { return float64(io.RecoveryStats().Failed[reason]) }))
	}
	return cs
}
