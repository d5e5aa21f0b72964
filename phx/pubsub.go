package phx

import "github.com/phxgo/phxgo/phx/pubsub"

// PubSub carries broadcasts between publishers and the channels subscribed
// to their topics, on this node and, for clustered implementations, on the
// others. Config.PubSub picks one (default pubsub.NewMemory()); package
// pubsub documents what an implementation must do.
type PubSub = pubsub.PubSub

// Broadcast is one published message, as HandleOut receives it. It is
// shared by every subscriber: treat it as read-only.
type Broadcast = pubsub.Broadcast

// NewBroadcast builds a Broadcast from an app value (see RawJSON and
// Binary); a JSON payload must be an object.
func NewBroadcast(topic, event string, payload any) (*Broadcast, error) {
	data, binary, err := encodeObject(payload)
	if err != nil {
		return nil, err
	}
	return &Broadcast{Topic: topic, Event: event, Payload: data, Binary: binary}, nil
}
