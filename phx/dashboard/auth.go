package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"html"
	"io"
	"net"
	"net/http"
	"path"
	"strings"
)

// cookieName is the login cookie WithKey's form sets.
const cookieName = "phxgo_dashboard"

// maxLoginBody caps the login form's body.
const maxLoginBody = 4 << 10

// authorized reports whether r may see the dashboard: always without a
// key, else with the key as a bearer token or the login cookie.
func (d *Dashboard) authorized(r *http.Request) bool {
	if d.cfg.key == "" {
		return true
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return d.keyMatches(tok)
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(d.cookieValue())) == 1
	}
	return false
}

// keyMatches compares got with the key in constant time (both hashed
// first, so that not even the key's length shows).
func (d *Dashboard) keyMatches(got string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(d.cfg.key))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// cookieValue is the login cookie: an HMAC of a fixed label under the key,
// so the cookie never holds the key and a new key voids old cookies.
func (d *Dashboard) cookieValue() string {
	m := hmac.New(sha256.New, []byte(d.cfg.key))
	m.Write([]byte("phxgo dashboard login"))
	return hex.EncodeToString(m.Sum(nil))
}

// login checks the form's key and sets the cookie. Without WithKey there
// is nothing to log in to: the page itself.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	if d.cfg.key == "" {
		http.Redirect(w, r, "./", http.StatusSeeOther)
		return
	}
	if r.Method != http.MethodPost {
		d.loginPage(w, http.StatusOK, "")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLoginBody+1))
	if err != nil || len(body) > maxLoginBody {
		http.Error(w, "bad login form", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.ParseForm(); err != nil || !d.keyMatches(r.PostForm.Get("key")) {
		d.loginPage(w, http.StatusUnauthorized, "Wrong key.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: d.cookieValue(),
		Path: path.Dir(r.URL.Path) + "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: 7 * 24 * 3600})
	http.Redirect(w, r, "./", http.StatusSeeOther)
}

// loginPage answers with the key form (status 401 when the page was asked
// for without a key).
func (d *Dashboard) loginPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>phxgo dashboard: log in</title><link rel="stylesheet" href="app.css"></head>
<body class="login"><form method="post" action="login"><h1>phxgo dashboard</h1>
<p>This dashboard needs its key.</p><p class="err">`+html.EscapeString(msg)+`</p>
<input type="password" name="key" autocomplete="current-password" autofocus placeholder="key">
<button type="submit">Log in</button></form></body></html>`)
}

// fromLoopback reports whether r comes from a loopback address and names
// a loopback host.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return false
	}
	return loopbackName(r.Host)
}

// loopbackName reports whether a Host header names this machine's
// loopback: localhost or a loopback IP, with or without a port.
func loopbackName(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
