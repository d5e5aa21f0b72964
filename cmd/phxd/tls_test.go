package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/phxgo/phxgo/netpoll/tlstest"
)

// writeTestCert writes a throwaway self-signed certificate for 127.0.0.1
// and its key as PEM files, and returns their paths and a pool trusting it.
func writeTestCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool, err := tlstest.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

func TestTLSFlags(t *testing.T) {
	cert, key, _ := writeTestCert(t)
	for _, args := range [][]string{{"-tls-cert", cert}, {"-tls-key", key}, {"-tls-cert", key, "-tls-key", key}} {
		o, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := loadTLS(o); err == nil {
			t.Fatalf("%q accepted", args)
		}
	}
	if code := run([]string{"-tls-cert", cert}, io.Discard); code != 2 {
		t.Fatalf("-tls-cert alone: exit status %d, want 2", code)
	}
}

// phxd with -tls-cert/-tls-key: wss joins a channel, https serves the
// plain routes and LongPoll, on one port.
func TestTLSServe(t *testing.T) {
	cert, key, pool := writeTestCert(t)
	o, err := parseFlags([]string{"-tls-cert", cert, "-tls-key", key}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := loadTLS(o); err != nil || cfg == nil {
		t.Fatalf("loadTLS: %v", err)
	}
	addr := startPhxd(t, "-tls-cert", cert, "-tls-key", key)
	clientCfg := &tls.Config{RootCAs: pool}

	conn, br, _, err := ws.Dialer{TLSConfig: clientCfg, Timeout: 10 * time.Second}.Dial(context.Background(),
		"wss://"+addr+"/socket/websocket?token=user:ann&vsn=2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wsutil.WriteClientText(conn, []byte(`["1","1","room:lobby","phx_join",{}]`)); err != nil {
		t.Fatal(err)
	}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	rw := struct {
		io.Reader
		io.Writer
	}{bufio.NewReader(r), conn}
	for {
		msg, err := wsutil.ReadServerText(rw)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(msg), `"phx_reply"`) {
			if !strings.Contains(string(msg), `"status":"ok"`) {
				t.Fatalf("join reply %s", msg)
			}
			break
		}
	}

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientCfg}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz over https: %d", resp.StatusCode)
	}
	resp, err = hc.Get("https://" + addr + "/socket/longpoll?token=user:ann&vsn=2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"token"`) {
		t.Fatalf("LongPoll over https: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain http on the TLS port: %d, want 400", resp.StatusCode)
	}

	// /metrics counts the handshakes: the wss dial and the https client
	// completed theirs, the plain request failed its.
	resp, err = hc.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	m := "\n" + string(b)
	for _, want := range []string{`phxgo_tls_handshakes_total{result="failed"} 1` + "\n",
		`phxgo_tls_handshakes_total{result="refused"} 0` + "\n"} {
		if !strings.Contains(m, "\n"+want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(m, `phxgo_tls_handshakes_total{result="ok"} `) ||
		strings.Contains(m, `phxgo_tls_handshakes_total{result="ok"} 0`+"\n") ||
		strings.Contains(m, `phxgo_tls_handshakes_total{result="ok"} 1`+"\n") {
		t.Errorf("/metrics: want at least 2 completed TLS handshakes:%s", m)
	}
}
