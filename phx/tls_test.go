package phx_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/phxgo/phxgo/phx"
)

// selfSigned is a throwaway certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "phx test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// The Server mounted under the application's https server: with
// TLSListener the WebSocket runs on the event loop (wss join, echo of a
// payload spanning several records); LongPoll is served by net/http.
func TestMountedOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	srv := phx.NewServer(phx.Config{Path: "/socket", Logger: slog.New(slog.DiscardHandler)})
	srv.Channel("room:*", echoRoom{})
	t.Cleanup(func() { _ = srv.Close() })
	mux := http.NewServeMux()
	mux.Handle("/socket/", srv)
	ts := httptest.NewUnstartedServer(mux)
	ts.Listener = phx.TLSListener(ts.Listener, &tls.Config{Certificates: []tls.Certificate{cert}})
	ts.Start()
	t.Cleanup(ts.Close)
	addr := ts.Listener.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dialer{TLSConfig: &tls.Config{RootCAs: pool}}.Dial(ctx, "wss://"+addr+"/socket/websocket?vsn=2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	big := strings.Repeat("é", 20000)
	for _, step := range [][2]string{
		{`["1","1","room:lobby","phx_join",{}]`, `"status":"ok"`},
		{`["1","2","room:lobby","hello",{"s":"` + big + `"}]`, big},
	} {
		if err := wsutil.WriteClientText(conn, []byte(step[0])); err != nil {
			t.Fatal(err)
		}
		reply, err := wsutil.ReadServerText(conn)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(reply), step[1]) {
			t.Fatalf("reply to %.40s: %.80s", step[0], reply)
		}
	}
	if st := srv.NetStats(); st.Conns != 1 {
		t.Fatalf("event loop holds %d sockets, want 1", st.Conns)
	}
}
