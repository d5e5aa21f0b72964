package floor

// Result is the floor a run was measured against (one of the two).
type Result struct {
	Echo    *EchoResult    `json:"echo,omitempty"`
	Connect *ConnectResult `json:"connect,omitempty"`
}
