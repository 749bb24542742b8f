package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// claimName makes sure no live node has our name, then answers for it.
// It asks the name's node (request/reply), and, unless the embedded server
// is alone, also listens for a heartbeat of the name for a heartbeat's
// time and asks again: a node a new server is not yet routed to (route
// gossip takes a moment) is heard that way.
func (n *Node) claimName(ctx context.Context) error {
	hb, err := n.nc.SubscribeSync(n.ctlSubject(kindHeartbeat))
	if err != nil {
		return fmt.Errorf("natsbroker: subscribe: %w", err)
	}
	defer hb.Unsubscribe()
	if err := n.nc.Flush(); err != nil {
		return fmt.Errorf("natsbroker: %w", err)
	}
	if err := n.askName(ctx); err != nil {
		return err
	}
	if n.srv == nil || n.srv.NumRoutes() > 0 {
		wctx, cancel := context.WithTimeout(ctx, n.o.Heartbeat+n.tick())
		_, err := hb.NextMsgWithContext(wctx)
		cancel()
		switch {
		case err == nil:
			return &nameInUseError{n.name}
		case ctx.Err() != nil:
			return fmt.Errorf("natsbroker: start: %w", ctx.Err())
		}
		if err := n.askName(ctx); err != nil {
			return err
		}
	}
	reply := appendU64(nil, n.inc)
	n.aliveSub, err = n.nc.Subscribe(n.pfx+"a."+n.selfTok, func(m *nats.Msg) {
		if m.Reply != "" {
			_ = m.Respond(reply)
		}
	})
	if err != nil {
		return fmt.Errorf("natsbroker: subscribe: %w", err)
	}
	return n.nc.Flush()
}

// askName asks whether a live node has our name: an answer means yes; no
// responder, or none within a second, means no.
func (n *Node) askName(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, max(n.o.Heartbeat, time.Second))
	defer cancel()
	_, err := n.nc.RequestWithContext(rctx, n.pfx+"a."+n.selfTok, nil)
	switch {
	case err == nil:
		return &nameInUseError{n.name}
	case ctx.Err() != nil:
		return fmt.Errorf("natsbroker: start: %w", ctx.Err())
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil
	}
	return fmt.Errorf("natsbroker: asking whether node name %q is in use: %w", n.name, err)
}
