package floor

// Result is the floor a run was measured against (Echo or Connect). With
// Echo, Server is the server under test measured by the floor's client.
type Result struct {
	Echo    *EchoResult    `json:"echo,omitempty"`
	Server  *EchoResult    `json:"server_echo,omitempty"`
	Connect *ConnectResult `json:"connect,omitempty"`
}
