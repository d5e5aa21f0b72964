package main

import (
	"errors"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/token"
)

// Phoenix.Token auth: with SECRET_KEY_BASE set, the `token` param may be a
// token the Elixir app made with Phoenix.Token.sign or Phoenix.Token.encrypt
// (salt "user socket"), whose data becomes the user id.
const (
	secretKeyBaseEnv = "SECRET_KEY_BASE"
	phxTokenSalt     = "user socket"
	phxTokenMaxAge   = 86400 * time.Second
)

// phxTokenNow is the clock tokens are checked against (tests replace it).
var phxTokenNow = time.Now

// phxTokenPrefixes start the tokens Phoenix.Token writes: signed
// (HS256, and the HS384 and HS512 Plug.Crypto also verifies), encrypted
// (Plug.Crypto 2) and encrypted by Plug.Crypto 1.
var (
	phxSignedPrefixes    = []string{"SFMyNTY.", "SFMzODQ.", "SFM1MTI."}
	phxEncryptedPrefixes = []string{"XCP.", "QTEyOEdDTQ."}
)

// phoenixTokenConnect handles a `token` param that is a Phoenix.Token
// while SECRET_KEY_BASE is set; handled is false otherwise. An expired
// token is refused with token_expired, any other bad one with unauthorized.
func phoenixTokenConnect(tok string) (assigns phx.Assigns, handled bool, err error) {
	secret := os.Getenv(secretKeyBaseEnv)
	if secret == "" {
		return phx.Assigns{}, false, nil
	}
	open := token.Verify
	switch {
	case hasAnyPrefix(tok, phxSignedPrefixes):
	case hasAnyPrefix(tok, phxEncryptedPrefixes):
		open = token.Decrypt
	default:
		return phx.Assigns{}, false, nil
	}
	data, err := open(secret, phxTokenSalt, tok, token.MaxAge(phxTokenMaxAge), token.Clock(phxTokenNow))
	switch {
	case errors.Is(err, token.ErrExpired):
		return phx.Assigns{}, true, tokenExpired()
	case err != nil:
		return phx.Assigns{}, true, unauthorized()
	}
	id, ok := phxTokenUserID(data)
	if !ok {
		return phx.Assigns{}, true, unauthorized()
	}
	return phx.NewAssigns("user_id", id), true, nil
}

// phxTokenUserID turns a token's data into a user id: an integer (in
// decimal) or a string, either matching the user id rule.
func phxTokenUserID(data any) (string, bool) {
	var id string
	switch d := data.(type) {
	case string:
		id = d
	case int64:
		id = strconv.FormatInt(d, 10)
	case *big.Int:
		id = d.String()
	default:
		return "", false
	}
	return id, userIDPattern.MatchString(id)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// tokenExpired refuses an expired token, test or Phoenix.Token alike.
func tokenExpired() error {
	return &phx.ConnectError{Code: phx.CloseUnauthorized, Reason: "token_expired",
		Payload: phx.Reason("token_expired")}
}

// unauthorized refuses any other bad token.
func unauthorized() error {
	return &phx.ConnectError{Code: phx.CloseUnauthorized, Reason: "unauthorized",
		Payload: phx.Reason("unauthorized")}
}
