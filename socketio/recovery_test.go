package socketio_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"herald/socketio"
)

// connectReply reads a CONNECT reply's {sid, pid}.
func connectReply(t *testing.T, c *pipeClient) (sid, pid string) {
	t.Helper()
	p := c.read()
	var r struct{ Sid, Pid string }
	if !strings.HasPrefix(p, "40{") || json.Unmarshal([]byte(p[2:]), &r) != nil || r.Sid == "" {
		t.Fatalf("CONNECT reply %q", p)
	}
	return r.Sid, r.Pid
}

// lastArg returns the last argument of an EVENT packet: the offset.
func lastArg(t *testing.T, p string) string {
	t.Helper()
	var args []any
	if !strings.HasPrefix(p, "42[") || json.Unmarshal([]byte(p[2:]), &args) != nil {
		t.Fatalf("event %q", p)
	}
	off, _ := args[len(args)-1].(string)
	return off
}

// A client whose connection dropped comes back with its pid and last
// offset: same id, same rooms, the missed broadcasts in order, then live
// ones; a client with a wrong pid or none connects anew.
func TestRecoveryOverPipe(t *testing.T) {
	srv, l := pipeServe(t, socketio.Options{Recovery: socketio.RecoveryOptions{Window: time.Minute}})
	nsp := srv.Of("/")
	connected := make(chan *socketio.Socket, 4)
	nsp.OnConnection(func(s *socketio.Socket) {
		if !s.Recovered() {
			s.Join("room")
		}
		connected <- s
	})
	left := make(chan bool, 4)
	nsp.OnDisconnect(func(s *socketio.Socket, reason string) { left <- s.Parked() })

	c := pipeDial(t, l)
	c.send("40")
	sid, pid := connectReply(t, c)
	if pid == "" {
		t.Fatal("no pid with recovery on")
	}
	<-connected
	nsp.To("room").Emit("e", 1)
	off := lastArg(t, c.read())
	if off == "" {
		t.Fatal("no offset on a broadcast")
	}
	c.c.Close()
	if parked := <-left; !parked {
		t.Fatal("a dropped transport was not parked")
	}
	nsp.To("room").Emit("e", 2)
	nsp.To(sid).Emit("own", 3)
	nsp.To("elsewhere").Emit("e", 99)

	// A forged pid: a new socket, nothing missed.
	f := pipeDial(t, l)
	f.send(`40{"pid":"` + pid[:len(pid)-2] + `AA","offset":"` + off + `"}`)
	if fsid, _ := connectReply(t, f); fsid == sid {
		t.Fatal("a forged pid recovered")
	}
	if s := <-connected; s.Recovered() {
		t.Fatal("Recovered on a forged pid")
	}

	c2 := pipeDial(t, l)
	c2.send(`40{"pid":"` + pid + `","offset":"` + off + `"}`)
	if sid2, pid2 := connectReply(t, c2); sid2 != sid || pid2 != pid {
		t.Fatalf("recovered as %q/%q, want %q/%q", sid2, pid2, sid, pid)
	}
	if s := <-connected; !s.Recovered() || s.ID() != sid {
		t.Fatalf("socket %q recovered %v", s.ID(), s.Recovered())
	}
	for _, want := range []string{`42["e",2,`, `42["own",3,`} {
		if p := c2.read(); !strings.HasPrefix(p, want) {
			t.Fatalf("missed packet %q, want %s…", p, want)
		}
	}
	nsp.To("room").Emit("e", 4) // the room was restored
	if p := c2.read(); !strings.HasPrefix(p, `42["e",4,`) {
		t.Fatalf("live packet %q", p)
	}
	st := srv.RecoveryStats()
	if st.Attempts != 2 || st.Recovered != 1 || st.Failed[socketio.RecoveryNoSession] != 1 {
		t.Fatalf("stats %+v", st)
	}

	// A client namespace disconnect is not parked.
	c2.send("41")
	if parked := <-left; parked {
		t.Fatal("a client disconnect was parked")
	}
}
