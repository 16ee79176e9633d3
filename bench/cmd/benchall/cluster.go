//go:build linux

package main

// Cluster mode (-nodes k): each server kind runs as k processes on one Redis of its own (started on
// a free port, --save "" --appendonly no); herald's nodes also share a fresh PostgreSQL database,
// created on -pg-url's server before and dropped after. The load tool gets every node's URL, every
// node's pid and Redis's (-extra-pid), so that CPU and memory are the cluster's.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"herald/bench"
)

// clusterKinds are the servers that have a cluster mode.
var clusterKinds = []string{"herald", "herald-nopresence", "node"}

// redisProc is a redis-server of the run's own.
type redisProc struct {
	url string
	cmd *exec.Cmd
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis starts redis-server on a free loopback port, without persistence, and waits for PONG.
func startRedis(ctx context.Context, o options, logf *os.File) (*redisProc, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server is not installed")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	cmd := pinned(o.serverCPU, args)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go cmd.Process.Wait() // reaped, so that stopServer sees it gone
	r := &redisProc{url: fmt.Sprintf("redis://127.0.0.1:%d", port), cmd: cmd}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	end := time.Now().Add(10 * time.Second)
	for {
		if err := redisPing(addr); err == nil {
			return r, nil
		} else if time.Now().After(end) || ctx.Err() != nil {
			stopServer(cmd)
			return nil, fmt.Errorf("redis-server on %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// pinned is cmd under taskset -c cpus, or cmd itself when cpus is empty.
func pinned(cpus string, cmd []string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(cmd[0], cmd[1:]...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus}, cmd...)...)
}

// freshDatabase creates an empty database on admin's server and returns its URL and a function that
// drops it.
func freshDatabase(ctx context.Context, admin string) (string, func(), error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("-pg-url: %w", err)
	}
	b := make([]byte, 5)
	rand.Read(b)
	name := "herald_bench_" + hex.EncodeToString(b)
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database on %s: %w", u.Host, err)
	}
	drop := func() {
		if err := exec("DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "drop database %s: %v\n", name, err)
		}
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// measureCluster starts Redis (and for herald a fresh database), k nodes of s, runs the load tool
// against all of them and stops everything.
func measureCluster(ctx context.Context, root, tmp, load string, o options, s *server, firstPort int) (*bench.Result, error) {
	s.logf = filepath.Join(tmp, s.name+".log")
	logf, err := os.Create(s.logf)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	rds, err := startRedis(ctx, o, logf)
	if err != nil {
		return nil, err
	}
	defer stopServer(rds.cmd)
	env := append(withoutDatabaseURL(os.Environ()), s.env...)
	env = append(env, "REDIS_URL="+rds.url)
	herald := s.kind != "node"
	if herald {
		dbURL, drop, err := freshDatabase(ctx, o.pgURL)
		if err != nil {
			return nil, err
		}
		defer drop()
		env = append(env, "DATABASE_URL="+dbURL)
	}
	var urls, pids []string
	var cmds []*exec.Cmd
	defer stopAll(&cmds)
	start := func(i int) error {
		port := firstPort + i
		args := slicesClone(s.cmd)
		if herald {
			args = append(args, "--advertise-addr", "127.0.0.1:"+strconv.Itoa(port))
		}
		cmd := pinned(o.serverCPU, args)
		cmd.Dir = root
		if s.dir != "" {
			cmd.Dir = s.dir
		}
		cmd.Env = append(slicesClone(env), "PORT="+strconv.Itoa(port))
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		urls = append(urls, "http://127.0.0.1:"+strconv.Itoa(port))
		return nil
	}
	// The first node migrates the new database alone; the others start once it is up.
	for i := range o.nodes {
		if err := start(i); err != nil {
			return nil, err
		}
		if i == 0 {
			if err := waitReady(ctx, urls[0], cmds[0], 60*time.Second); err != nil {
				return nil, fmt.Errorf("node 0: %w", err)
			}
		}
	}
	for i := 1; i < len(cmds); i++ {
		if err := waitReady(ctx, urls[i], cmds[i], 60*time.Second); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
	}
	// The process that listens is measured (taskset execs in place; a wrapper would not).
	for i, base := range urls {
		pid := cmds[i].Process.Pid
		if p, err := listenerPID(base); err == nil {
			pid = p
		}
		pids = append(pids, strconv.Itoa(pid))
	}
	fmt.Fprintf(os.Stderr, "== %s: %d nodes (pids %s) on %s, Redis %s (pid %d)\n", s.name, o.nodes,
		strings.Join(pids, ","), strings.Join(urls, ","), rds.url, rds.cmd.Process.Pid)

	args := append([]string{o.scenario, "-url", strings.Join(urls, ","), "-label", s.name,
		"-server-pid", strings.Join(pids, ","), "-extra-pid", strconv.Itoa(rds.cmd.Process.Pid),
		"-secret", o.secret, "-api-key", o.apiKey, "-json"}, o.loadArgs...)
	return runLoad(ctx, load, o, args)
}

// stopAll stops the nodes together: each one's drain runs at the same time as the others'.
func stopAll(cmds *[]*exec.Cmd) {
	var wg sync.WaitGroup
	for _, c := range *cmds {
		wg.Go(func() { stopServer(c) })
	}
	wg.Wait()
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// listenerPID is the pid of the process listening on base's port.
func listenerPID(base string) (int, error) {
	u, err := url.Parse(base)
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, err
	}
	return bench.FindListener(port)
}

// raiseFileLimit sets the soft limit of open files to the hard limit, at most 20,000, for the servers
// and the load tool this process starts. It always calls setrlimit: the Go runtime raises its own
// soft limit at start but gives children the original one unless the program set it itself.
func raiseFileLimit() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return
	}
	rl.Cur = min(rl.Max, 20000)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintln(os.Stderr, "benchall: open files limit:", err)
	}
}
