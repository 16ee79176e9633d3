package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"herald"
	"herald/auth"
	"herald/emitter"
	"herald/engineio"
	"herald/gateway"
	"herald/httpapi"
	"herald/internal/clientaddr"
	"herald/internal/routines"
	"herald/metrics"
	"herald/postgres"
	"herald/socketio"
	"herald/sqlite"
)

// serveConfig is what `herald serve` runs with: flags, defaulting to the
// seed's environment variables.
type serveConfig struct {
	Addr            string
	JWTSecret       string
	APIKey          string
	CORSOrigins     []string
	DBPath          string
	DatabaseURL     string
	RedisURL        string
	AdvertiseAddr   string
	Forwarding      bool // --advertise-addr given in cluster mode: requests for other nodes' sessions are forwarded
	ClusterLease    time.Duration
	EmitterKeys     []emitter.Key
	Dev             bool
	Presence        bool
	PresenceGrace   time.Duration
	WatchLimit      int
	ReplayLimit     int
	PingInterval    time.Duration
	PingTimeout     time.Duration
	MaxPayload      int
	ShutdownTimeout time.Duration
	LogLevel        string
	BlockingReads   bool
	DrainPeriod     time.Duration
	IdleTimeout     time.Duration
	BodyTimeout     time.Duration
	MaxUnauthPerIP  int
	Recovery        recoverySettings
	Identity        identitySettings
	Limits          limitSettings
	TrustedProxies  []netip.Prefix
}

func parseServe(args []string) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	port := fs.String("port", env("PORT", "3000"), "TCP port to listen on (env PORT)")
	host := fs.String("host", env("HOST", ""), "address to listen on; empty means all (env HOST)")
	fs.StringVar(&c.JWTSecret, "jwt-secret", env("JWT_SECRET", ""), "HS256 secret of the app's JWTs (env JWT_SECRET)")
	fs.StringVar(&c.APIKey, "api-key", env("HERALD_API_KEY", ""), "bearer key of the backend API (env HERALD_API_KEY)")
	cors := fs.String("cors-origin", env("CORS_ORIGIN", "http://localhost:3000,http://localhost:5173"), "comma-separated browser origins allowed (env CORS_ORIGIN)")
	fs.StringVar(&c.DBPath, "db", "herald.db", "SQLite database file of the embedded store")
	fs.StringVar(&c.DatabaseURL, "database-url", env("DATABASE_URL", ""), "PostgreSQL URL, for several nodes (env DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", env("REDIS_URL", ""), "Redis URL: cluster mode, several nodes on one PostgreSQL (env REDIS_URL)")
	fs.StringVar(&c.AdvertiseAddr, "advertise-addr", env("HERALD_ADVERTISE_ADDR", ""), "host:port other nodes and operators reach this node at over plain HTTP, listed by GET /v1/nodes; required for forwarding polling requests between nodes (no sticky sessions); empty means the listen address, and no forwarding (env HERALD_ADVERTISE_ADDR)")
	fs.DurationVar(&c.ClusterLease, "cluster-lease", 10*time.Second, "cluster mode: how long a node's lease lives without a refresh; a node that dies has its users offline and its counts gone within about 4/3 of it")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: make up a JWT secret and API key if unset and print a ready token")
	fs.BoolVar(&c.Presence, "presence", true, "answer presence:subscribe: sockets get user:online / user:offline of the users they watch")
	fs.IntVar(&c.WatchLimit, "presence-watch-limit", 1000, "most users one socket may watch with presence:subscribe")
	fs.DurationVar(&c.PresenceGrace, "presence-grace", 3*time.Second, "how long a user whose last socket left still counts as online (absorbs page reloads)")
	fs.IntVar(&c.ReplayLimit, "replay-limit", 1000, "most missed notifications replayed to a client that connects with auth.since")
	fs.DurationVar(&c.PingInterval, "ping-interval", 25*time.Second, "Engine.IO ping interval")
	fs.DurationVar(&c.PingTimeout, "ping-timeout", 20*time.Second, "Engine.IO ping timeout")
	fs.IntVar(&c.MaxPayload, "max-payload", 1_000_000, "largest message a client may send, in bytes")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take after the drain")
	fs.DurationVar(&c.DrainPeriod, "drain-period", 10*time.Second, "on SIGTERM, the time over which connected clients are closed (spread evenly) after new ones are refused")
	fs.DurationVar(&c.IdleTimeout, "http-idle-timeout", 60*time.Second, "how long an idle keep-alive HTTP connection stays open")
	fs.DurationVar(&c.BodyTimeout, "http-body-timeout", 10*time.Second, "how long a request body (API or polling POST) may take to arrive")
	fs.IntVar(&c.MaxUnauthPerIP, "max-unauthenticated-per-ip", 64, "most connections of one source IP that have not authenticated yet; 0 means no bound")
	fs.BoolVar(&c.BlockingReads, "blocking-reads", false, "read each websocket from its own goroutine instead of epoll (for measurements)")
	fs.StringVar(&c.LogLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	emitterKeys := emitterFlag(fs)
	c.Identity.register(fs)
	c.Limits.register(fs)
	recoveryWindow := c.Recovery.register(fs)
	proxies := fs.String("trusted-proxies", env("HERALD_TRUSTED_PROXIES", ""), "comma-separated CIDRs of proxies whose X-Forwarded-For gives the client address of per-address limits and logs; empty trusts nobody (env HERALD_TRUSTED_PROXIES)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := c.Recovery.check(*recoveryWindow); err != nil {
		return c, err
	}
	var err error
	if c.TrustedProxies, err = clientaddr.ParseCIDRs(*proxies); err != nil {
		return c, fmt.Errorf("serve: --trusted-proxies: %w", err)
	}
	if err := c.Limits.check(); err != nil {
		return c, err
	}
	if _, err := strconv.Atoi(*port); err != nil {
		return c, fmt.Errorf("serve: invalid port %q", *port)
	}
	c.Addr = net.JoinHostPort(*host, *port)
	for _, o := range strings.Split(*cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	if c.JWTSecret == "" && !c.Identity.hasKey() && !c.Dev {
		return c, errors.New("serve: no JWT key: set JWT_SECRET to your app's JWT secret, or JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL to your identity provider's keys, or run with --dev")
	}
	if c.RedisURL != "" && c.DatabaseURL == "" {
		return c, errors.New("serve: REDIS_URL (cluster mode) needs DATABASE_URL: every node must share one PostgreSQL store (the SQLite file is one node's)")
	}
	if c.EmitterKeys, err = emitterKeys(); err != nil {
		return c, fmt.Errorf("serve: %w", err)
	}
	if len(c.EmitterKeys) > 0 && c.RedisURL == "" {
		return c, errors.New("serve: --redis-emitter-key needs REDIS_URL (cluster mode; one node is a cluster too)")
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			return c, fmt.Errorf("serve: invalid REDIS_URL: %w", err)
		}
	}
	if c.AdvertiseAddr != "" {
		if h, p, err := net.SplitHostPort(c.AdvertiseAddr); err != nil || h == "" || p == "" {
			return c, fmt.Errorf("serve: invalid --advertise-addr %q: want host:port", c.AdvertiseAddr)
		}
		c.Forwarding = c.RedisURL != ""
	}
	return c, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func runServe(ctx context.Context, args []string) error {
	cfg, err := parseServe(args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	if cfg.Dev {
		if cfg.JWTSecret == "" {
			cfg.JWTSecret = randomHex(32)
		}
		if cfg.APIKey == "" {
			cfg.APIKey = randomHex(16)
		}
	}

	store, storeName, err := openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("serve: open store: %w", err)
	}
	defer store.Close()
	verifier, err := cfg.Identity.verifier(cfg.JWTSecret, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	if cfg.AdvertiseAddr == "" {
		cfg.AdvertiseAddr = ln.Addr().String()
	}
	srv := newServer(cfg, store, verifier, log)
	defer srv.close()
	httpSrv := newHTTPServer(cfg, srv.handler, log)
	// Every long-lived goroutine is started in group; the deferred Wait
	// runs after the deferred cancel has told them to stop, and before the
	// store closes.
	var group routines.Group
	defer group.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	group.Go(func() { errc <- httpSrv.Serve(ln) })
	log.Info("herald listening", "addr", ln.Addr().String(), "store", storeName, "cors", cfg.CORSOrigins)
	if cfg.Dev {
		printDevBanner(cfg, ln.Addr())
	}
	group.Go(func() { purgeExpired(ctx, store, log) })
	if addr := os.Getenv("HERALD_PPROF"); addr != "" {
		// Profiling endpoints on their own (loopback) address, never on the public port.
		pprofSrv := &http.Server{Addr: addr, Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
		defer pprofSrv.Close()
		group.Go(func() {
			if err := pprofSrv.ListenAndServe(); err != http.ErrServerClosed {
				log.Warn("pprof", "err", err)
			}
		})
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Lame duck: refuse new clients, then close the connected ones over
	// the drain period so that they reconnect elsewhere without a storm.
	log.Info("draining", "period", cfg.DrainPeriod.String(), "sockets", srv.io.Of("/").Len())
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), cfg.DrainPeriod+time.Second)
	srv.drain(drainCtx, cfg.DrainPeriod)
	cancelDrain()
	log.Info("shutting down")
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancelShutdown()
	// Close what is left (sessions that never connected a socket) after
	// flushing what is queued (polling clients need the listener for their
	// last poll); then stop listening, wait for in-flight API requests, and
	// close the store (deferred, after the goroutines).
	srv.io.Shutdown(shutdownCtx)
	srv.leaveCluster(shutdownCtx, log)
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	return nil
}

// openStore opens the PostgreSQL store when a database URL is set, else
// the SQLite file, and returns it with a name for the logs (no password).
func openStore(ctx context.Context, cfg serveConfig) (herald.Store, string, error) {
	if cfg.DatabaseURL == "" {
		db, err := sqlite.Open(cfg.DBPath)
		return db, "sqlite:" + cfg.DBPath, err
	}
	name := "postgres"
	if u, err := url.Parse(cfg.DatabaseURL); err == nil {
		name = u.Redacted()
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{})
	return db, name, err
}

func printDevBanner(cfg serveConfig, addr net.Addr) {
	tok, _ := auth.Mint([]byte(cfg.JWTSecret), devUser, 24*time.Hour)
	port := addr.(*net.TCPAddr).Port
	fmt.Fprintf(os.Stderr, `
herald is running in development mode on http://localhost:%d
  the demo app: http://localhost:%d/
  JWT_SECRET=%s
  HERALD_API_KEY=%s
  a token for user "dev-user" (24h):
    %s
  try:
    curl -X POST http://localhost:%d/v1/notifications -H 'Authorization: Bearer %s' \
      -H 'Content-Type: application/json' -d '{"userId":"dev-user","type":"info","title":"Hello","message":"from herald"}'

`, port, port, cfg.JWTSecret, cfg.APIKey, tok, port, cfg.APIKey)
}

// purgeExpired deletes expired notifications every minute; reads already
// hide them, this only reclaims space.
func purgeExpired(ctx context.Context, store herald.Store, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := store.PurgeExpired(ctx, now); err != nil {
				log.Warn("purge expired", "err", err)
			} else if n > 0 {
				log.Info("purged expired notifications", "count", n)
			}
		}
	}
}

// newHTTPServer returns the HTTP server of herald's port: headers within
// 10s, each request body within cfg.BodyTimeout, idle keep-alive
// connections closed after cfg.IdleTimeout. There is no overall read or
// write timeout: long-polls and websockets live long.
func newHTTPServer(cfg serveConfig, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(h, cfg.BodyTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// server is herald's HTTP surface on one port: Socket.IO, the API, health
// and metrics.
type server struct {
	io      *socketio.Server
	gateway *gateway.Gateway
	handler http.Handler

	draining atomic.Bool // set by drain: /readyz answers 503

	cluster *clusterNode // nil outside cluster mode
	left    atomic.Bool  // the node left the cluster
	log     *slog.Logger
}

func newServer(cfg serveConfig, store herald.Store, verifier *auth.Verifier, log *slog.Logger) *server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ioOpts := socketio.Options{
		Engine: engineio.Options{
			PingInterval:  cfg.PingInterval,
			PingTimeout:   cfg.PingTimeout,
			MaxPayload:    cfg.MaxPayload,
			CORS:          engineio.CORS{Origins: cfg.CORSOrigins, Credentials: true},
			BlockingReads: cfg.BlockingReads,
		},
		MaxPendingPerAddr: unauthBound(cfg.MaxUnauthPerIP),
		Recovery:          cfg.Recovery.options(),
		Logger:            log,
	}
	var cn *clusterNode
	if cfg.RedisURL != "" {
		cn = newClusterNode(cfg, reg, log)
		ioOpts.NewAdapter = cn.node.NewAdapter
		if cfg.Forwarding {
			fw := cn.newForwarder(cfg, reg)
			ioOpts.Engine.NewID, ioOpts.Engine.Forward = fw.NewSID, fw.ServeForward
		} else {
			log.Warn("cluster mode without --advertise-addr: polling clients need sticky sessions")
		}
	}
	io := socketio.NewServer(ioOpts)
	var gw *gateway.Gateway
	eng := io.Engine()
	m, err := metrics.New(reg, metrics.Sources{
		Sockets:       func() int { _, n := gw.Counts(); return n },
		Users:         func() int { n, _ := gw.Counts(); return n },
		Connections:   func() int { return eng.Stats().Open },
		Opened:        func() uint64 { return eng.Stats().Opened },
		SlowConsumers: func() uint64 { return eng.Stats().SlowConsumers },
	})
	if err != nil {
		panic(err) // a fresh registry cannot hold duplicates
	}
	gcfg := gateway.Config{Store: store, Verifier: verifier, DisablePresence: !cfg.Presence, PresenceGrace: cfg.PresenceGrace, PresenceWatchLimit: cfg.WatchLimit, ReplayLimit: cfg.ReplayLimit, Observer: m, Logger: log,
		Limits: cfg.Limits.gateway(), Addr: cfg.AdvertiseAddr}
	if cn != nil {
		gcfg.Cluster = cn.node
	}
	gw = gateway.New(io, gcfg)
	reg.MustRegister(recoveryCollectors(io)...)
	api := httpapi.New(httpapi.Config{Gateway: gw, Verifier: verifier, APIKey: cfg.APIKey, Logger: log,
		BackendRequestsPerSecond: cfg.Limits.APIRate, UserRequestsPerSecond: off(cfg.Limits.UserAPIRate), LimitObserver: m})

	api = httpapi.CORS(cfg.CORSOrigins, api) // the user routes answer browsers like the socket transport
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", newHandshakeGuard(io, engineio.CORS{Origins: cfg.CORSOrigins}, off(cfg.Limits.HandshakeRate), m, log))
	mux.Handle("/v1/", m.Middleware(api))
	mux.Handle("GET /metrics", metrics.Handler(reg))
	mux.Handle("GET /openapi.json", httpapi.OpenAPIHandler())
	if cfg.Dev {
		mountDev(mux, []byte(cfg.JWTSecret), verifier, gw)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s := &server{io: io, gateway: gw, cluster: cn, log: log}
	if cn != nil {
		cn.gateway.Store(gw)
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining\n", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		pool := ""
		if p, ok := store.(interface{ PoolStatus() string }); ok {
			pool = p.PoolStatus() + "\n"
		}
		if err := store.Ping(ctx); err != nil {
			http.Error(w, "store unavailable\n"+pool, http.StatusServiceUnavailable)
			return
		}
		if cn != nil {
			if ok, reason := cn.node.Health(); !ok {
				// Still 200: the node serves its own sockets.
				w.Write([]byte("degraded: " + reason + "\n" + pool))
				return
			}
		}
		w.Write([]byte("ready\n" + pool))
	})
	s.handler = clientaddr.New(cfg.TrustedProxies, log).Middleware(mux) // once per request, before every per-address limit
	return s
}

// unauthBound maps --max-unauthenticated-per-ip to socketio's option: 0
// there means no bound.
func unauthBound(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

func (s *server) close() {
	s.io.Close()
	s.leaveCluster(context.Background(), s.log)
	s.gateway.Close()
}

// leaveCluster closes the cluster node once, after the sockets.
func (s *server) leaveCluster(ctx context.Context, log *slog.Logger) {
	if s.cluster != nil && s.left.CompareAndSwap(false, true) {
		s.cluster.close(ctx, log)
	}
}

func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
