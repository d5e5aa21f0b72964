package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// The protected headers of Plug.Crypto.MessageVerifier: base64url of
// "HS256", "HS384" and "HS512".
const (
	headerHS256 = "SFMyNTY"
	headerHS384 = "SFMzODQ"
	headerHS512 = "SFM1MTI"
)

// The encrypted forms of Plug.Crypto.MessageEncryptor: XChaCha20-Poly1305
// (Plug.Crypto 2) and AES-GCM with a wrapped key (Plug.Crypto 1, read
// only). Both authenticate the additional data "A128GCM".
const (
	prefixXCP    = "XCP."
	prefixA128   = "QTEyOEdDTQ."
	aadA128GCM   = "A128GCM"
	xcpNonceSize = chacha20poly1305.NonceSizeX
	tagSize      = 16
)

// b64 encodes as Elixir's Base.url_encode64(x, padding: false).
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// unb64 decodes as Elixir's Base.url_decode64(x, padding: false): padding
// may be there or not, unused bits need not be zero, and nothing but the
// alphabet (no newlines) is allowed.
func unb64(s string) ([]byte, bool) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	enc := base64.RawURLEncoding
	if strings.HasSuffix(s, "=") {
		if len(s)%4 != 0 {
			return nil, false
		}
		enc = base64.URLEncoding
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}

// signMessage is MessageVerifier.sign/2 (HMAC-SHA256).
func signMessage(payload, key []byte) string {
	text := headerHS256 + "." + b64(payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(text))
	return text + "." + b64(mac.Sum(nil))
}

// verifyMessage is MessageVerifier.verify/2: the payload of a token whose
// HMAC matches, compared in constant time before the payload is read.
func verifyMessage(token string, key []byte) ([]byte, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, false
	}
	var h func() hash.Hash
	switch parts[0] {
	case headerHS256:
		h = sha256.New
	case headerHS384:
		h = sha512.New384
	case headerHS512:
		h = sha512.New
	default:
		return nil, false
	}
	sig, ok := unb64(parts[2])
	if !ok {
		return nil, false
	}
	mac := hmac.New(h, key)
	mac.Write([]byte(parts[0]))
	mac.Write([]byte{'.'})
	mac.Write([]byte(parts[1]))
	if !hmac.Equal(mac.Sum(nil), sig) {
		return nil, false
	}
	return unb64(parts[1])
}

// encryptMessage is MessageEncryptor.encrypt/3 with Plug.Crypto's empty
// sign secret: "XCP." and base64url of nonce, tag and cipher text.
func encryptMessage(payload, key []byte, rnd io.Reader) (string, error) {
	if len(key) != chacha20poly1305.KeySize {
		return "", errors.New("token: Encrypt needs a 32-byte key")
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return "", err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	nonce := make([]byte, xcpNonceSize)
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return "", err
	}
	sealed := aead.Seal(nil, nonce, payload, []byte(aadA128GCM))
	ct, tag := sealed[:len(sealed)-tagSize], sealed[len(sealed)-tagSize:]
	out := make([]byte, 0, len(sealed)+xcpNonceSize)
	out = append(append(append(out, nonce...), tag...), ct...)
	return prefixXCP + b64(out), nil
}

// decryptMessage is MessageEncryptor.decrypt/3 with an empty sign secret.
func decryptMessage(token string, key []byte) ([]byte, bool) {
	if rest, ok := strings.CutPrefix(token, prefixXCP); ok {
		raw, ok := unb64(rest)
		if !ok || len(raw) < xcpNonceSize+tagSize || len(key) != chacha20poly1305.KeySize {
			return nil, false
		}
		aead, err := chacha20poly1305.NewX(key)
		if err != nil {
			return nil, false
		}
		nonce, tag, ct := raw[:xcpNonceSize], raw[xcpNonceSize:xcpNonceSize+tagSize], raw[xcpNonceSize+tagSize:]
		sealed := append(append(make([]byte, 0, len(ct)+tagSize), ct...), tag...)
		plain, err := aead.Open(nil, nonce, sealed, []byte(aadA128GCM))
		return plain, err == nil
	}
	if rest, ok := strings.CutPrefix(token, prefixA128); ok {
		return decryptA128GCM(rest, key)
	}
	return nil, false
}

// decryptA128GCM reads Plug.Crypto 1's tokens: a random content key
// wrapped with AES-GCM under the derived key (additional data: the empty
// sign secret), then the payload sealed with AES-GCM under the content key.
func decryptA128GCM(rest string, key []byte) ([]byte, bool) {
	parts := strings.Split(rest, ".")
	if len(parts) != 4 || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
		return nil, false
	}
	var raw [4][]byte
	for i, p := range parts {
		b, ok := unb64(p)
		if !ok {
			return nil, false
		}
		raw[i] = b
	}
	wrapped, iv, ct, tag := raw[0], raw[1], raw[2], raw[3]
	if len(iv) != 12 || len(tag) != tagSize {
		return nil, false
	}
	cekLen := len(wrapped) - tagSize - 12
	if cekLen != 16 && cekLen != 24 && cekLen != 32 {
		return nil, false
	}
	// wrapped is cipher text, tag, then the 12-byte IV.
	cek, ok := gcmOpen(key, wrapped[cekLen+tagSize:], wrapped[:cekLen], wrapped[cekLen:cekLen+tagSize], nil)
	if !ok {
		return nil, false
	}
	return gcmOpen(cek, iv, ct, tag, []byte(aadA128GCM))
}

func gcmOpen(key, iv, ct, tag, aad []byte) ([]byte, bool) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, false
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, false
	}
	sealed := append(append(make([]byte, 0, len(ct)+len(tag)), ct...), tag...)
	plain, err := aead.Open(nil, iv, sealed, aad)
	return plain, err == nil
}
