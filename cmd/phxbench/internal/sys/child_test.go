package sys

import (
	"strings"
	"testing"
)

// StartListener reads the port a child prints first, and Stop ends the
// child by closing its stdin; a child that prints no port is an error.
func TestStartListener(t *testing.T) {
	c, _, port, err := StartListener("sh", "/bin/sh", "-c", "echo 4321; cat >/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	if port != 4321 {
		t.Errorf("port %d, want 4321", port)
	}
	c.Stop()
	if !c.Cmd.ProcessState.Exited() || c.Cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("child after Stop: %v, want exited 0 (ended by its stdin closing)", c.Cmd.ProcessState)
	}
	if _, _, _, err := StartListener("true", "/bin/true"); err == nil || !strings.Contains(err.Error(), "did not report its port") {
		t.Fatalf("a child without a port: %v", err)
	}
}
