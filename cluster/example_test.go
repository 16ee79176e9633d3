package cluster_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/cluster"
	"herald/socketio"
)

// How a server joins the cluster: one Node per process, its Adapter in
// every namespace, presence and health from the node.
func Example() {
	ropts, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	node := cluster.New(rdb, cluster.Options{
		Addr:     "10.0.0.1:3000", // what other nodes dial (Nodes)
		OnResync: func() { /* replay from the store what local sockets missed */ },
	})
	srv := socketio.NewServer(socketio.Options{NewAdapter: node.NewAdapter})
	node.Presence().OnTransition(func(userKey string, online bool) {
		// tell this node's watchers of userKey (Local: every node does)
	})
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.Join("user:42")              // returns once the room's subscription is confirmed
		node.Presence().Add("user:42") // and Remove on disconnect
	})
	http.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, reason := node.Health(); !ok {
			w.Write([]byte("degraded: " + reason)) // still 200: the node serves its own sockets
			return
		}
		w.Write([]byte("ok"))
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx) // sockets first, then the node
	node.Close(ctx)
}
