// Command centrifuge is the comparator of `rollcall bench`: a minimal
// presence server built on github.com/centrifugal/centrifuge, driven by the
// generator through Centrifuge's JSON client protocol.
//
// Every connection is accepted anonymously; its user id is the "name" of
// the connect command's data ({"name":"u1"}), or the client id when there
// is none. Any client may subscribe to any channel, with presence and
// join/leave on, publish to the channels it is subscribed to, and ask for
// any channel's presence. By default it uses the in-memory broker and
// presence manager; with --redis it uses Centrifuge's Redis broker and Redis
// presence manager on that (loopback) Redis, so that several processes
// form one Centrifuge cluster. It keeps no history and logs warnings only.
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
	var o nodeOptions
	flag.StringVar(&o.redis, "redis", "", "use Centrifuge's Redis broker and Redis presence manager on this Redis (host:port on loopback); several processes on one Redis form a cluster")
	flag.StringVar(&o.name, "node", "", "the node's name in Centrifuge's node list (default: rollcall-bench-centrifuge)")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("centrifuge: unexpected arguments %q", flag.Args())
	}
	if err := run(*addr, *ping, o); err != nil {
		log.Fatalf("centrifuge: %v", err)
	}
}

// nodeOptions choose the node's engine and name.
type nodeOptions struct {
	redis string // Redis address; empty: the in-memory broker and presence manager
	name  string
}

func run(addr string, ping time.Duration, o nodeOptions) error {
	node, err := newNode(o)
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
	mux.HandleFunc("GET /debug/nodes", func(w http.ResponseWriter, _ *http.Request) { nodes(w, node) })
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

// newNode returns a node with the handlers of the comparator, on the
// default in-memory broker and presence manager or, with o.redis, on
// Centrifuge's Redis broker (which is also the node's controller: node
// info travels through Redis) and Redis presence manager, with the
// library's defaults (presence entries live 60 s after their last update,
// refreshed every 25 s).
func newNode(o nodeOptions) (*centrifuge.Node, error) {
	name := o.name
	if name == "" {
		name = "rollcall-bench-centrifuge"
	}
	node, err := centrifuge.New(centrifuge.Config{
		Name:     name,
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
	if o.redis != "" {
		if err := useRedis(node, o.redis); err != nil {
			return nil, err
		}
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

// useRedis sets node's broker and presence manager to Centrifuge's Redis
// ones, on one shard at addr, which must be on loopback.
func useRedis(node *centrifuge.Node, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--redis %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--redis %q: only a loopback address is allowed", addr)
	}
	shard, err := centrifuge.NewRedisShard(node, centrifuge.RedisShardConfig{Address: addr})
	if err != nil {
		return fmt.Errorf("redis shard: %w", err)
	}
	shards := []*centrifuge.RedisShard{shard}
	broker, err := centrifuge.NewRedisBroker(node, centrifuge.RedisBrokerConfig{Shards: shards})
	if err != nil {
		return fmt.Errorf("redis broker: %w", err)
	}
	node.SetBroker(broker)
	presence, err := centrifuge.NewRedisPresenceManager(node, centrifuge.RedisPresenceManagerConfig{Shards: shards})
	if err != nil {
		return fmt.Errorf("redis presence manager: %w", err)
	}
	node.SetPresenceManager(presence)
	return nil
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

// nodes answers the nodes this node knows of (itself included), from
// Centrifuge's node info: {"nodes":[{"name":N,"clients":C},...]}.
func nodes(w http.ResponseWriter, node *centrifuge.Node) {
	info, err := node.Info()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	type nodeJSON struct {
		Name    string `json:"name"`
		Clients uint32 `json:"clients"`
	}
	out := struct {
		Nodes []nodeJSON `json:"nodes"`
	}{Nodes: []nodeJSON{}}
	for _, n := range info.Nodes {
		out.Nodes = append(out.Nodes, nodeJSON{n.Name, n.NumClients})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
