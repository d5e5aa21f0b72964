package token

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// maxKeyLength bounds KeyLength: longer keys buy nothing and cost a
// PBKDF2 block each.
const maxKeyLength = 1024

// keyCacheSize bounds the derived-key cache. An app uses a handful of
// salts; the bound only matters if salts come from outside.
const keyCacheSize = 256

type keyID struct {
	secret, salt       string
	iterations, length int
	digest             Digest
}

var keyCache = struct {
	sync.Mutex
	m map[keyID][]byte
}{m: make(map[keyID][]byte)}

func (d Digest) hash() (func() hash.Hash, error) {
	switch d {
	case SHA1:
		return sha1.New, nil
	case SHA224:
		return sha256.New224, nil
	case SHA256:
		return sha256.New, nil
	case SHA384:
		return sha512.New384, nil
	case SHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("token: unknown key digest %q", string(d))
}

// key derives the key for secret and salt as Plug.Crypto.KeyGenerator
// does, from the cache when it can.
func (c *config) key(secret, salt string) ([]byte, error) {
	if c.iterations < 1 {
		return nil, errors.New("token: key iterations must be at least 1")
	}
	if c.length < 1 || c.length > maxKeyLength {
		return nil, fmt.Errorf("token: key length must be from 1 to %d", maxKeyLength)
	}
	h, err := c.digest.hash()
	if err != nil {
		return nil, err
	}
	id := keyID{secret, salt, c.iterations, c.length, c.digest}
	keyCache.Lock()
	k, ok := keyCache.m[id]
	keyCache.Unlock()
	if ok {
		return k, nil
	}
	k, err = pbkdf2.Key(h, secret, []byte(salt), c.iterations, c.length)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	keyCache.Lock()
	if len(keyCache.m) >= keyCacheSize {
		for old := range keyCache.m { // drop an arbitrary entry
			delete(keyCache.m, old)
			break
		}
	}
	keyCache.m[id] = k
	keyCache.Unlock()
	return k, nil
}
