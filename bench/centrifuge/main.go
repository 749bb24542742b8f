// Command centrifuge is the comparator of `rollcall bench`: a minimal
// presence server built on github.com/centrifugal/centrifuge, driven by the
// generator through Centrifuge's JSON client protocol.
//
// Every connection is accepted anonymously; its user id is the "name" of
// the connect command's data ({"name":"u1"}), or the client id when there
// is none. Any client may subscribe to any channel, with presence and
// join/leave on, publish to the channels it is subscribed to, and ask for
// any channel's presence. It uses the in-memory broker and presence
// manager, keeps no history and logs warnings only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "listen address (host:port; port 0 picks one)")
	ping := flag.Duration("ping-interval", 0, "interval of the server's pings, the pong timeout being half of it (0: the library's default)")
	flag.Parse()
	if err := run(*addr, *ping); err != nil {
		log.Fatalf("centrifuge: %v", err)
	}
}

func run(addr string, ping time.Duration) error {
	node, err := newNode()
	if err != nil {
		return err
	}
	if err := node.Run(); err != nil {
		return fmt.Errorf("run node: %w", err)
	}

	mux := http.NewServeMux()
	var wsc centrifuge.WebsocketConfig
	if ping > 0 {
		wsc.PingPongConfig = centrifuge.PingPongConfig{PingInterval: ping, PongTimeout: ping / 2}
	}
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, wsc))
	mux.HandleFunc("GET /debug/stats", stats)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on %s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-sig:
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The node disconnects the WebSocket clients, which the HTTP server
	// does not track once upgraded.
	nodeErr := node.Shutdown(ctx)
	if nodeErr != nil {
		nodeErr = fmt.Errorf("shutdown node: %w", nodeErr)
	}
	srvErr := srv.Shutdown(ctx)
	if srvErr != nil {
		srvErr = fmt.Errorf("shutdown http: %w", srvErr)
	}
	return errors.Join(nodeErr, srvErr)
}

// newNode returns a node with the default in-memory broker and presence
// manager and the handlers of the comparator.
func newNode() (*centrifuge.Node, error) {
	node, err := centrifuge.New(centrifuge.Config{
		Name:     "rollcall-bench-centrifuge",
		LogLevel: centrifuge.LogLevelWarn,
		LogHandler: func(e centrifuge.LogEntry) {
			log.Printf("centrifuge: %s %v", e.Message, e.Fields)
		},
		// Scenarios may put a client in more channels than the default 128.
		ClientChannelLimit: 1024,
	})
	if err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}

	node.OnConnecting(func(_ context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: userID(e)}}, nil
	})

	node.OnConnect(func(c *centrifuge.Client) {
		c.OnSubscribe(func(_ centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			cb(centrifuge.SubscribeReply{Options: centrifuge.SubscribeOptions{
				EmitPresence:  true,
				EmitJoinLeave: true,
				PushJoinLeave: true,
			}}, nil)
		})
		c.OnPublish(func(e centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			if !c.IsSubscribed(e.Channel) {
				cb(centrifuge.PublishReply{}, centrifuge.ErrorPermissionDenied)
				return
			}
			// The publication names its sender, as the join/leave pushes do.
			cb(centrifuge.PublishReply{Options: centrifuge.PublishOptions{ClientInfo: e.ClientInfo}}, nil)
		})
		c.OnPresence(func(_ centrifuge.PresenceEvent, cb centrifuge.PresenceCallback) {
			cb(centrifuge.PresenceReply{}, nil) // nil Result: the node's presence
		})
	})
	return node, nil
}

// userID is the "name" of the connect data, or the client id when the data
// is missing, not a JSON object or has no name.
func userID(e centrifuge.ConnectEvent) string {
	var d struct {
		Name string `json:"name"`
	}
	if len(e.Data) > 0 && json.Unmarshal(e.Data, &d) == nil && d.Name != "" {
		return d.Name
	}
	return e.ClientID
}

// stats answers the process's goroutine count and memory figures; with
// gc=1 it first collects and returns freed memory to the OS.
func stats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") == "1" {
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Goroutines int    `json:"goroutines"`
		HeapAlloc  uint64 `json:"heap_alloc"`
		HeapInuse  uint64 `json:"heap_inuse"`
		HeapSys    uint64 `json:"heap_sys"`
		Sys        uint64 `json:"sys"`
	}{runtime.NumGoroutine(), ms.HeapAlloc, ms.HeapInuse, ms.HeapSys, ms.Sys})
}
