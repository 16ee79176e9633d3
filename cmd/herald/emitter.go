package main

import (
	"flag"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"herald/emitter"
)

// emitterFlag registers --redis-emitter-key (repeatable, each a comma
// list; HERALD_REDIS_EMITTER_KEY when the flag is not given) and returns
// the function that parses what was given, after fs.Parse.
func emitterFlag(fs *flag.FlagSet) func() ([]emitter.Key, error) {
	var values []string
	fs.Func("redis-emitter-key", "cluster mode: also deliver what the socket.io Redis emitter publishes under this key: key (the default tenant) or key=tenant; repeatable or a comma list; empty means off (env HERALD_REDIS_EMITTER_KEY)", func(v string) error {
		values = append(values, v)
		return nil
	})
	return func() ([]emitter.Key, error) {
		if values == nil {
			values = []string{env("HERALD_REDIS_EMITTER_KEY", "")}
		}
		return emitter.ParseKeys(values)
	}
}

// startEmitter subscribes to the emitter channels of cfg.EmitterKeys on a
// Redis connection of its own, delivering through the gateway once it is
// set; c.close stops it. Nothing without keys.
func (c *clusterNode) startEmitter(cfg serveConfig, reg prometheus.Registerer, log *slog.Logger) {
	if len(cfg.EmitterKeys) == 0 {
		return
	}
	c.emitter = emitter.Start(c.rdb, emitter.Options{Keys: cfg.EmitterKeys, MaxBytes: cfg.MaxPayload, Logger: log,
		Target: func() emitter.Target {
			if g := c.gateway.Load(); g != nil {
				return g
			}
			return nil
		}})
	for i, result := range emitter.Results {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_emitter_messages_total",
			Help:        "Messages of the socket.io Redis emitter received by this node, by result (delivered, or why they were dropped).",
			ConstLabels: prometheus.Labels{"result": result}},
			func() float64 { return float64(c.emitter.Counts()[i]) }))
	}
	log.Info("socket.io emitter", "keys", len(cfg.EmitterKeys))
}
