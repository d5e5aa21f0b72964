package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/phx/presence"
)

// startStore is the presence store of a node on Redis, as presence.New
// sees it. presence.New registers the node (it removes what an earlier
// process of the same node left, then heartbeats) and fails when the store
// does not answer. phxd must start during a Redis outage all the same and
// serve its own clients, as a running node does through one, so until
// started is set startStore reports those two calls for this node as done
// when Redis fails them, logging the outage. The heartbeat loop then
// retries every -presence-heartbeat; its first heartbeat that reaches
// Redis registers the node, which announces its presences then.
//
// What is skipped: removing the presences an earlier process with the same
// -node name left behind, when it crashed less than -presence-node-timeout
// before this one started during an outage. With the default node names
// (new at every start) there are none: other nodes expire the old name.
type startStore struct {
	presence.Store
	node    string
	log     *slog.Logger
	started atomic.Bool
}

func (s *startStore) ExpireNode(ctx context.Context, node string) ([]presence.Entry, error) {
	gone, err := s.Store.ExpireNode(ctx, node)
	if err != nil && s.tolerate(node, "presence: Redis unreachable at start; not removing presences an earlier process of this node may have left", err) {
		return nil, nil
	}
	return gone, err
}

func (s *startStore) Heartbeat(ctx context.Context, node string, at time.Time) (bool, error) {
	existed, err := s.Store.Heartbeat(ctx, node, at)
	if err != nil && s.tolerate(node, "presence: Redis unreachable at start; serving this node's clients only, retrying every heartbeat", err) {
		return false, nil
	}
	return existed, err
}

func (s *startStore) tolerate(node, msg string, err error) bool {
	if s.started.Load() || node != s.node {
		return false
	}
	s.log.Warn(msg, "node", node, "err", err)
	return true
}
