package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/presence"
)

// The example app: token-based connect, room:* with chat
// and test events, bench:* for load tests.

var userIDPattern = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

// connect authenticates the `token` param.
func connect(_ context.Context, info *phx.ConnectInfo) (phx.Assigns, error) {
	token := info.Params.Get("token")
	if id, ok := strings.CutPrefix(token, "user:"); ok && userIDPattern.MatchString(id) {
		return phx.NewAssigns("user_id", strings.Clone(id)), nil
	}
	switch token {
	case "expired":
		return phx.Assigns{}, tokenExpired()
	case "overloaded":
		return phx.Assigns{}, &phx.ConnectError{Code: phx.CloseUnavailable, Reason: "try_later", RetryAfter: retryAfter,
			Payload: map[string]any{"reason": "try_later", "retry_after_ms": retryAfter.Milliseconds()}}
	default:
		if assigns, ok, err := phoenixTokenConnect(token); ok {
			return assigns, err
		}
		return phx.Assigns{}, unauthorized()
	}
}

// retryAfter is what the overloaded token advises (and the brake honours).
const retryAfter = 5 * time.Second

// socketID names a user's sockets so kick_me can disconnect them all.
func socketID(s *phx.Socket) string {
	return socketIDPrefix + s.Assigns.String("user_id")
}

// socketIDPrefix starts every socket id.
const socketIDPrefix = "users_socket:"

// maxSlow bounds the `slow` event's delay.
const maxSlow = 5000

// roomChannel serves room:*. Its members are tracked in Presence.
type roomChannel struct {
	presence *presence.Presence
}

func (roomChannel) Join(c *phx.Channel, _ phx.Payload) (any, error) {
	if c.Topic() == "room:private" && c.Assigns().String("user_id") != "admin" {
		return nil, phx.ErrorReply(phx.Reason("forbidden"))
	}
	return nil, nil
}

// AfterJoin tracks the user under key <user_id> with meta
// {"online_at": <unix ms>} (members get presence_diff) and pushes
// presence_state to the joiner, after every join and rejoin.
func (rc roomChannel) AfterJoin(c *phx.Channel) {
	uid := c.Assigns().String("user_id")
	meta := map[string]any{"online_at": time.Now().UnixMilli()}
	if err := rc.presence.Track(c, uid, meta); err != nil {
		c.Socket().Server().Logger().Warn("presence track failed", "topic", c.Topic(), "user", uid, "err", err)
	}
	if err := rc.presence.PushState(c); err != nil {
		c.Socket().Server().Logger().Warn("presence_state push failed", "topic", c.Topic(), "err", err)
	}
}

func (rc roomChannel) HandleIn(c *phx.Channel, msg *phx.InMessage) (any, error) {
	switch msg.Event {
	case "new_msg", "echo":
		return handleCommon(c, msg)
	case "reply_error":
		return nil, phx.ErrorReply(phx.Reason("requested"))
	case "noreply":
		return nil, nil
	case "crash":
		panic("crash requested by client")
	case "leave_me":
		return nil, phx.ErrStop
	case "set_status":
		return rc.setStatus(c, msg)
	case "kick_me":
		_ = c.Reply(msg, "ok", phx.Empty)
		return nil, published(c, c.Socket().Server().Broadcast(c.Socket().ID(), "disconnect", phx.Empty))
	case "broadcast_binary":
		_ = c.Reply(msg, "ok", phx.Empty)
		return nil, published(c, c.Broadcast("bin_all", phx.Binary{4, 5, 6}))
	case "push_binary":
		_ = c.Reply(msg, "ok", phx.Empty)
		// A LongPoll client cannot receive binary frames: the push then
		// fails and is logged (the request is already answered).
		return nil, c.Push("bin", phx.Binary{1, 2, 3})
	case "binary":
		return msg.Payload, nil
	case "slow":
		return slow(c, msg)
	}
	return nil, phx.ErrorReply(phx.Reason("unhandled event"))
}

// setStatus replies ok {} and adds "status" to the user's presence meta
// (members get one presence_diff: the new meta, with phx_ref_prev, in joins
// and the old one in leaves). The reply goes first, as in Phoenix.
func (rc roomChannel) setStatus(c *phx.Channel, msg *phx.InMessage) (any, error) {
	var in struct {
		Status *string `json:"status"`
	}
	if err := msg.Payload.Decode(&in); err != nil || in.Status == nil {
		return nil, phx.ErrorReply(phx.Reason("bad_request"))
	}
	_ = c.Reply(msg, "ok", phx.Empty)
	status := *in.Status
	err := rc.presence.Update(c, c.Assigns().String("user_id"), presence.Updater(func(meta map[string]any) any {
		meta["status"] = status
		return meta
	}))
	if err != nil {
		c.Socket().Server().Logger().Warn("presence update failed", "topic", c.Topic(), "err", err)
	}
	return nil, nil
}

// slow replies after the requested delay without blocking the channel.
// The delay is a Channel.After timer, which counts toward the socket's
// inbound work: a client flooding `slow` is throttled (its input paused)
// instead of making the server hold a timer per event.
func slow(c *phx.Channel, msg *phx.InMessage) (any, error) {
	var in struct {
		MS *int `json:"ms"`
	}
	if err := msg.Payload.Decode(&in); err != nil || in.MS == nil || *in.MS < 0 || *in.MS > maxSlow {
		return nil, phx.ErrorReply(phx.Reason("bad_request"))
	}
	// The timer keeps only the ref: the message (payload and all) may be
	// as big as a frame, and a client may have many timers running.
	pending := &phx.InMessage{Event: msg.Event, Ref: bytes.Clone(msg.Ref)}
	c.After(time.Duration(*in.MS)*time.Millisecond, func() {
		_ = c.Reply(pending, "ok", phx.Empty)
	})
	return nil, nil
}

// handleCommon serves the events room:* and bench:* share.
func handleCommon(c *phx.Channel, msg *phx.InMessage) (any, error) {
	switch msg.Event {
	case "echo":
		return msg.Payload, nil
	case "new_msg":
		var in struct {
			Body *string `json:"body"`
		}
		if err := msg.Payload.Decode(&in); err != nil || in.Body == nil {
			return nil, phx.ErrorReply(phx.Reason("bad_request"))
		}
		err := c.Broadcast("new_msg", map[string]string{"user": c.Assigns().String("user_id"), "body": *in.Body})
		return phx.Empty, published(c, err)
	}
	return nil, phx.ErrorReply(phx.Reason("unhandled event"))
}

// published handles a broadcast's error. The app's payloads always encode,
// so an error means the PubSub could not hand the message to the other
// nodes (Redis unreachable): this node's subscribers have it, the others
// never will (across nodes delivery is at most once, as in Phoenix.PubSub).
// That is logged, not the client's fault: the event is answered as usual.
func published(c *phx.Channel, err error) error {
	if err != nil {
		c.Socket().Server().Logger().Warn("broadcast reached this node only", "topic", c.Topic(), "err", err)
	}
	return nil
}

// benchChannel serves bench:*: nothing but the channel itself.
type benchChannel struct{}

func (benchChannel) Join(*phx.Channel, phx.Payload) (any, error) { return nil, nil }

func (benchChannel) HandleIn(c *phx.Channel, msg *phx.InMessage) (any, error) {
	if msg.Event == "block" {
		return block(msg)
	}
	return handleCommon(c, msg)
}

// block sleeps in the handler for the requested time, then replies ok {}:
// a handler that blocks, for phxbench's slow scenario (the other channels
// must not wait for it).
func block(msg *phx.InMessage) (any, error) {
	d, ok := blockDelay(msg.Payload.Decode)
	if !ok {
		return nil, phx.ErrorReply(phx.Reason("bad_request"))
	}
	time.Sleep(d)
	return phx.Empty, nil
}

// blockDelay reads block's {"ms": 0…maxSlow} with decode.
func blockDelay(decode func(any) error) (time.Duration, bool) {
	var in struct {
		MS *int `json:"ms"`
	}
	if err := decode(&in); err != nil || in.MS == nil || *in.MS < 0 || *in.MS > maxSlow {
		return 0, false
	}
	return time.Duration(*in.MS) * time.Millisecond, true
}
