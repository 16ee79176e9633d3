//go:build linux

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// A fleet is every connection of a run, held by one in-process Pool or spread over worker processes
// (a process may hold at most ~19,900 sockets here). The coordinator talks to both the same way.
type fleet interface {
	start(ctx context.Context) error
	snapshot() (Snapshot, error)
	counts() (Snapshot, error) // a snapshot without histograms
	setWindow(w int64) error
	close()
}

// localFleet is a Pool in this process.
type localFleet struct {
	pool *Pool
}

func (l *localFleet) start(ctx context.Context) error {
	go l.pool.Connect(ctx)
	return nil
}

func (l *localFleet) snapshot() (Snapshot, error) { return l.pool.Snapshot(), nil }
func (l *localFleet) counts() (Snapshot, error)   { return l.pool.Counts(), nil }
func (l *localFleet) setWindow(w int64) error     { l.pool.SetWindow(w); return nil }
func (l *localFleet) close()                      { l.pool.Close() }

// workerRequest and workerReply are the lines of the worker protocol: the coordinator writes one
// JSON request per line to the worker's stdin and reads one JSON reply per line from its stdout.
// A worker exits when its stdin closes, so it cannot outlive a coordinator that died.
type workerRequest struct {
	Op       string      `json:"op"` // connect, snapshot, counts, window, close
	Config   *PoolConfig `json:"config,omitempty"`
	Window   int64       `json:"window,omitempty"`
	Deadline time.Time   `json:"deadline,omitzero"`
}

type workerReply struct {
	Error    string    `json:"error,omitempty"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
}

// remoteFleet is a Pool in a worker process: this same program re-executed with -worker.
type remoteFleet struct {
	cfg      PoolConfig
	deadline time.Time
	cmd      *exec.Cmd
	in       io.WriteCloser
	out      *bufio.Scanner
	mu       sync.Mutex
}

func newRemoteFleet(workerCmd []string, cfg PoolConfig, deadline time.Time, stderr io.Writer) (*remoteFleet, error) {
	cmd := exec.Command(workerCmd[0], append(workerCmd[1:], "-worker")...)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &remoteFleet{cfg: cfg, deadline: deadline, cmd: cmd, in: in, out: sc}, nil
}

func (r *remoteFleet) call(req workerRequest) (workerReply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rep workerReply
	b, _ := json.Marshal(req)
	if _, err := r.in.Write(append(b, '\n')); err != nil {
		return rep, fmt.Errorf("worker %d: %w", r.cmd.Process.Pid, err)
	}
	if !r.out.Scan() {
		err := r.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return rep, fmt.Errorf("worker %d: %w", r.cmd.Process.Pid, err)
	}
	if err := json.Unmarshal(r.out.Bytes(), &rep); err != nil {
		return rep, fmt.Errorf("worker %d: %w", r.cmd.Process.Pid, err)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("worker %d: %s", r.cmd.Process.Pid, rep.Error)
	}
	return rep, nil
}

func (r *remoteFleet) start(context.Context) error {
	_, err := r.call(workerRequest{Op: "connect", Config: &r.cfg, Deadline: r.deadline})
	return err
}

func (r *remoteFleet) snapshot() (Snapshot, error) { return r.snap("snapshot") }
func (r *remoteFleet) counts() (Snapshot, error)   { return r.snap("counts") }

func (r *remoteFleet) snap(op string) (Snapshot, error) {
	rep, err := r.call(workerRequest{Op: op})
	if err != nil || rep.Snapshot == nil {
		return Snapshot{}, errors.Join(err, errors.New("no snapshot"))
	}
	return *rep.Snapshot, nil
}

func (r *remoteFleet) setWindow(w int64) error {
	_, err := r.call(workerRequest{Op: "window", Window: w})
	return err
}

func (r *remoteFleet) close() {
	r.call(workerRequest{Op: "close"})
	r.in.Close()
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-done
	}
}

// multiFleet fans every call out to several fleets at once and merges their snapshots.
type multiFleet []fleet

func (m multiFleet) each(fn func(i int, f fleet) error) error {
	errs := make([]error, len(m))
	var wg sync.WaitGroup
	for i, f := range m {
		wg.Go(func() { errs[i] = fn(i, f) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (m multiFleet) start(ctx context.Context) error {
	return m.each(func(_ int, f fleet) error { return f.start(ctx) })
}

func (m multiFleet) snapshot() (Snapshot, error) {
	return m.merge(fleet.snapshot)
}

func (m multiFleet) counts() (Snapshot, error) {
	return m.merge(fleet.counts)
}

func (m multiFleet) merge(get func(fleet) (Snapshot, error)) (Snapshot, error) {
	snaps := make([]Snapshot, len(m))
	err := m.each(func(i int, f fleet) error {
		var err error
		snaps[i], err = get(f)
		return err
	})
	var all Snapshot
	for _, s := range snaps {
		all.add(s)
	}
	return all, err
}

func (m multiFleet) setWindow(w int64) error {
	return m.each(func(_ int, f fleet) error { return f.setWindow(w) })
}

func (m multiFleet) close() {
	m.each(func(_ int, f fleet) error { f.close(); return nil })
}

// runWorker serves the worker protocol on in and out until in closes or the deadline passes.
func runWorker(in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	enc := json.NewEncoder(out)
	var pool *Pool
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		if pool != nil {
			pool.Close()
		}
	}()
	for sc.Scan() {
		var req workerRequest
		var rep workerReply
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return err
		}
		switch req.Op {
		case "connect":
			if pool != nil || req.Config == nil {
				rep.Error = "connect: already connected or no config"
				break
			}
			p, err := NewPool(*req.Config)
			if err != nil {
				rep.Error = err.Error()
				break
			}
			pool = p
			go func() {
				rampCtx, rampCancel := context.WithDeadline(ctx, req.Deadline)
				defer rampCancel()
				p.Connect(rampCtx)
			}()
			// Past the run's deadline (plus grace) a worker ends itself whatever the coordinator does.
			time.AfterFunc(time.Until(req.Deadline)+30*time.Second, func() {
				fmt.Fprintln(os.Stderr, "heraldload worker: deadline passed, exiting")
				os.Exit(3)
			})
		case "snapshot", "counts":
			if pool == nil {
				rep.Error = "not connected"
				break
			}
			var s Snapshot
			if req.Op == "snapshot" {
				s = pool.Snapshot()
			} else {
				s = pool.Counts()
			}
			s.CPU = SelfCPU()
			rep.Snapshot = &s
		case "window":
			if pool == nil {
				rep.Error = "not connected"
				break
			}
			pool.SetWindow(req.Window)
		case "close":
			if pool != nil {
				pool.Close()
				pool = nil
			}
		default:
			rep.Error = "unknown op " + req.Op
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	return sc.Err()
}
