package dashboard_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"testing"

	"github.com/phxgo/phxgo/netpoll/tlstest"
)

// The refusals list counts TLS handshakes that failed: plain HTTP sent to
// a ServeTLS listener of the server is one.
func TestSnapshotCountsTLSFailures(t *testing.T) {
	e := newEnv(t)
	cert, _, err := tlstest.New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = e.srv.ServeTLS(ln, &tls.Config{Certificates: []tls.Certificate{cert}}, http.NotFoundHandler())
	}()
	t.Cleanup(func() {
		_ = e.srv.Close() // newEnv's cleanup closes it again: harmless
		<-served
	})
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP to the TLS listener: %d, want 400", resp.StatusCode)
	}
	eventually(t, "one failed TLS handshake in the snapshot", func() bool {
		f := e.dash.Snapshot().Refusals
		return f.TLSFailed == 1 && f.TLSRefused == 0
	})
}
