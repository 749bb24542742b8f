package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ClusterCounters is what a Cluster may also report for GET /metrics
// (cmd/rollcall's natsbroker adapter does).
type ClusterCounters interface {
	// BrokerCounters returns the messages received from and sent to the
	// other nodes, and the snapshots of other nodes applied.
	BrokerCounters() (in, out, resyncs uint64)
}

// ClusterControlCounters is what a Cluster may also report for GET
// /metrics: the control messages from other nodes it dropped as malformed
// or inconsistent.
type ClusterControlCounters interface {
	ControlDropped() uint64
}

// ClusterBrokerHealth is what a Cluster may also report for GET /metrics:
// how its outgoing buffer and its channel subscriptions fare.
type ClusterBrokerHealth interface {
	BrokerHealth() BrokerHealth
}

// BrokerHealth is how a cluster node's broker fares.
type BrokerHealth struct {
	// OutboxOverflows counts the times the outgoing buffer overflowed
	// (the other nodes then resync this node); OutboxDropped the messages
	// those overflows dropped.
	OutboxOverflows, OutboxDropped uint64
	// SubscribeFailures counts the failed channel subscriptions at the
	// broker (each failed retry too); SubscribesFailing is how many
	// channels are failing now.
	SubscribeFailures uint64
	SubscribesFailing int
}

// metrics is the Prometheus collector of a server: it reads the server's
// atomic counters when scraped; nothing on the hot path knows of it.
type metrics struct {
	s *Server

	connections, connectionsTotal, closedForCause, slowConsumers *prometheus.Desc
	members, channels                                            *prometheus.Desc
	framesIn, framesOut, bytesIn, bytesOut                       *prometheus.Desc
	publishes, errors, rateLimited, ackResends                   *prometheus.Desc
	brokerIn, brokerOut, resyncs, nodes, ready                   *prometheus.Desc
	controlDropped, outboxOverflows, outboxDropped               *prometheus.Desc
	subscribeFailures, subscribesFailing                         *prometheus.Desc
	graceKept, graceRefused                                      *prometheus.Desc
}

func newMetrics(s *Server) *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rollcall_"+name, help, labels, nil)
	}
	return &metrics{
		s:                 s,
		connections:       d("connections", "WebSocket connections open now."),
		connectionsTotal:  d("connections_total", "WebSocket connections accepted."),
		closedForCause:    d("connections_closed_for_cause_total", "Connections the server closed because of the client."),
		slowConsumers:     d("slow_consumer_closes_total", "Connections closed (1008) because their outbound queue overflowed."),
		members:           d("members", "Members joined now, cluster-wide."),
		channels:          d("channels", "Channels now, cluster-wide."),
		framesIn:          d("frames_in_total", "Text frames received from clients."),
		framesOut:         d("frames_out_total", "Text frames written to clients."),
		bytesIn:           d("bytes_in_total", "Payload bytes of the text frames received from clients."),
		bytesOut:          d("bytes_out_total", "Bytes written to client sockets."),
		publishes:         d("publishes_total", "Messages published by clients and by the server."),
		errors:            d("errors_total", "Error replies sent to clients, by protocol, reason and the protocol's code.", "protocol", "reason", "code"),
		rateLimited:       d("rate_limited_frames_total", "Frames dropped by the per-connection rate limit."),
		ackResends:        d("ack_resends_total", "Frames re-sent for want of an acknowledgment."),
		brokerIn:          d("broker_messages_in_total", "Messages received from the other cluster nodes."),
		brokerOut:         d("broker_messages_out_total", "Messages sent to the other cluster nodes."),
		resyncs:           d("resyncs_total", "Snapshots of other nodes' entries applied (first syncs and repairs)."),
		nodes:             d("cluster_nodes", "Cluster nodes known to this one (itself included), by state.", "state"),
		ready:             d("ready", "1 when this node is ready (GET /readyz answers 200)."),
		controlDropped:    d("cluster_control_dropped_total", "Control messages from other nodes dropped as malformed or inconsistent."),
		outboxOverflows:   d("cluster_outbox_overflows_total", "Times the outgoing cluster buffer overflowed: its messages were dropped and the other nodes resync this node."),
		outboxDropped:     d("cluster_outbox_dropped_total", "Messages to the other nodes dropped by outgoing buffer overflows."),
		subscribeFailures: d("cluster_subscribe_failures_total", "Channel subscriptions at the broker that failed (each failed retry too)."),
		subscribesFailing: d("cluster_subscribes_failing", "Channels whose broker subscription is failing now (retried; the node is not ready meanwhile)."),
		graceKept:         d("presence_grace_kept", "Lost connections whose presence is kept now, waiting for their client (--presence-grace)."),
		graceRefused:      d("presence_grace_refused_total", "Lost connections that left at once because --presence-grace-max were kept already."),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.s
	c := &s.counters
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(m.connections, float64(c.open.Load()))
	counter(m.connectionsTotal, c.accepted.Load())
	counter(m.closedForCause, c.closedForCause.Load())
	counter(m.slowConsumers, c.SlowConsumers.Load())
	gauge(m.members, float64(s.engine.MemberCount()))
	gauge(m.channels, float64(s.engine.ChannelCount()))
	counter(m.framesIn, c.transport.MessagesRead.Load())
	counter(m.framesOut, c.transport.MessagesWritten.Load())
	counter(m.bytesIn, c.transport.BytesRead.Load())
	counter(m.bytesOut, c.transport.BytesWritten.Load())
	counter(m.publishes, c.Publishes.Load())
	for _, e := range c.ErrorCounts() {
		counter(m.errors, e.N, e.Protocol, e.Reason, strconv.Itoa(e.Code))
	}
	counter(m.rateLimited, c.RateLimited.Load())
	counter(m.ackResends, c.AckResends.Load())
	ready := 0.0
	if s.Ready() {
		ready = 1
	}
	gauge(m.ready, ready)
	gauge(m.graceKept, float64(s.engine.Ghosts()))
	counter(m.graceRefused, s.engine.GhostsRefused())
	if cl := s.opts.Cluster; cl != nil {
		if cc, ok := cl.(ClusterCounters); ok {
			in, out, resyncs := cc.BrokerCounters()
			counter(m.brokerIn, in)
			counter(m.brokerOut, out)
			counter(m.resyncs, resyncs)
		}
		if cc, ok := cl.(ClusterControlCounters); ok {
			counter(m.controlDropped, cc.ControlDropped())
		}
		if bh, ok := cl.(ClusterBrokerHealth); ok {
			h := bh.BrokerHealth()
			counter(m.outboxOverflows, h.OutboxOverflows)
			counter(m.outboxDropped, h.OutboxDropped)
			counter(m.subscribeFailures, h.SubscribeFailures)
			gauge(m.subscribesFailing, float64(h.SubscribesFailing))
		}
		byState := map[string]int{"alive": 0, "dead": 0, "left": 0}
		for _, n := range cl.Nodes() {
			byState[n.State]++
		}
		for st, k := range byState {
			gauge(m.nodes, float64(k), st)
		}
	}
}

// MetricsHandler serves the server's metrics in the Prometheus text format
// (with the Go runtime's and the process's), with no authentication: for
// a listener of its own (rollcall serve --metrics-addr). GET /metrics on
// the server's own address serves the same behind the API key.
func (s *Server) MetricsHandler() http.Handler {
	s.metricsOnce.Do(func() {
		reg := prometheus.NewRegistry()
		reg.MustRegister(newMetrics(s), newLimitMetrics(s), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		s.metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	})
	return s.metricsHandler
}

// routeMetrics adds GET /metrics behind the API key.
func (s *Server) routeMetrics(mux *http.ServeMux) {
	mux.Handle("GET /metrics", s.requireKey(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.MetricsHandler().ServeHTTP(w, r)
	})))
}
