package phx

// ChannelState is the stage of a channel instance's life. An instance only
// moves forward: ChannelJoining, then ChannelJoined (if the join is
// accepted), then ChannelClosed.
type ChannelState int32

// The stages of a channel instance.
const (
	// ChannelJoining: Join is running, or its reply is not written yet.
	ChannelJoining = ChannelState(stateJoining)
	// ChannelJoined: the join reply is out and the instance is up.
	ChannelJoined = ChannelState(stateJoined)
	// ChannelClosed: the instance has ended (left, stopped, crashed,
	// refused, replaced or its socket gone); it never comes back.
	ChannelClosed = ChannelState(stateClosed)
)

// String returns "joining", "joined" or "closed".
func (s ChannelState) String() string {
	switch s {
	case ChannelJoining:
		return "joining"
	case ChannelJoined:
		return "joined"
	case ChannelClosed:
		return "closed"
	}
	return "unknown"
}

// State returns the instance's stage at the time of the call. Libraries
// acting on a channel from outside its mailbox (Presence, for one) use it
// to refuse work on an instance whose join is still in flight, or that
// has ended.
func (c *Channel) State() ChannelState { return ChannelState(c.state.Load()) }
