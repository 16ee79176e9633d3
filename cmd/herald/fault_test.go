package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"herald/internal/pgtest"
)

// A herald serve process of a test, stopped when the test ends.
type serveProc struct {
	url string
	log *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listeningRE = regexp.MustCompile(`"msg":"herald listening","addr":"([^"]+)"`)

// startProcess runs `herald serve` from bin on a free loopback port with
// the given extra environment and waits until it listens.
func startProcess(t *testing.T, bin string, env ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOST=127.0.0.1", "PORT=0", "JWT_SECRET=fault-secret",
		"HERALD_API_KEY=fault-key", "GORACE=atexit_sleep_ms=0"}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{log: &syncBuffer{}}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.log, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("herald did not listen within 30s:\n%s", p.log)
	}
	return p
}

// createResult is the answer to one POST /v1/notifications.
type createResult struct {
	status int
	code   string // error.code, when not 201
	ids    []string
	took   time.Duration
}

func (p *serveProc) create(user string) createResult {
	body := fmt.Sprintf(`{"userId":%q,"type":"fault","title":"t","message":"m"}`, user)
	req, _ := http.NewRequest("POST", p.url+"/v1/notifications", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer fault-key")
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	client := http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return createResult{status: -1, code: err.Error(), took: time.Since(start)}
	}
	defer res.Body.Close()
	var out struct {
		Notifications []struct{ ID string }
		Error         struct{ Code string }
	}
	json.NewDecoder(res.Body).Decode(&out)
	r := createResult{status: res.StatusCode, code: out.Error.Code, took: time.Since(start)}
	for _, n := range out.Notifications {
		r.ids = append(r.ids, n.ID)
	}
	return r
}

func (p *serveProc) ready() int {
	res, err := http.Get(p.url + "/readyz")
	if err != nil {
		return -1
	}
	res.Body.Close()
	return res.StatusCode
}

// waitFor polls cond every 20ms until it holds, failing t after total.
func waitFor(t *testing.T, what string, total time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(total)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", total, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PostgreSQL restarted under traffic: while it is down, creates fail fast
// with 503 unavailable and /readyz says 503; herald recovers by itself once
// it is back; and every create answered 201 is in the store afterwards.
func TestPostgresRestartMidTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server; skipped in -short mode")
	}
	pg := pgtest.StartServer(t)
	srv := startProcess(t, e2eBuild(t), "DATABASE_URL="+pg.URL)
	if got := srv.ready(); got != http.StatusOK {
		t.Fatalf("/readyz before the restart: %d", got)
	}

	var (
		mu         sync.Mutex
		stored     []string // ids answered 201
		ok, failed atomic.Int64
		bad        []createResult // answers that are neither 201 nor a fast 503 unavailable
		stop       = make(chan struct{})
		wg         sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := srv.create(fmt.Sprintf("user-%d", (w+i)%5))
				mu.Lock()
				switch {
				case r.status == http.StatusCreated:
					stored = append(stored, r.ids...)
					ok.Add(1)
				case r.status == http.StatusServiceUnavailable && r.code == "unavailable" && r.took < 3*time.Second:
					failed.Add(1)
					time.Sleep(5 * time.Millisecond) // a client backing off
				default:
					bad = append(bad, r)
				}
				mu.Unlock()
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	waitFor(t, "creates before the restart", 30*time.Second, func() bool { return ok.Load() >= 50 })
	pg.Stop(t)
	waitFor(t, "503s while PostgreSQL is down", 30*time.Second, func() bool { return failed.Load() >= 20 })
	if got := srv.ready(); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz while PostgreSQL is down: %d, want 503", got)
	}
	okWhileDown := ok.Load()
	pg.Start(t)
	waitFor(t, "creates after the restart", 30*time.Second, func() bool { return ok.Load() >= okWhileDown+50 })
	waitFor(t, "/readyz after the restart", 10*time.Second, func() bool { return srv.ready() == http.StatusOK })
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("%d answers were neither 201 nor a fast 503 unavailable, e.g. %+v", len(bad), bad[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id FROM notifications`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool, len(ids))
	for _, id := range ids {
		have[id] = true
	}
	missing := 0
	for _, id := range stored {
		if !have[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d notifications answered 201 are not in the store", missing, len(stored))
	}
	t.Logf("%d creates answered 201 (all stored), %d answered 503 while PostgreSQL was down", len(stored), failed.Load())
}
