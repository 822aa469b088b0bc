package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS parses a JSON Web Key Set with RSA and P-256 EC keys, keyed by
// kid. Keys with use other than "sig" are skipped.
func ParseJWKS(doc []byte) (map[string]crypto.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("no keys")
	}
	out := map[string]crypto.PublicKey{}
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		key, err := k.public()
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		kid := k.Kid
		if kid == "" {
			kid = fmt.Sprintf("#jwks%d", i)
		}
		out[kid] = key
	}
	return out, nil
}

// fixed32 decodes a base64url P-256 coordinate into 32 big-endian bytes.
func fixed32(s string) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) == 0 || len(b) > 32 {
		return nil, fmt.Errorf("bad base64url coordinate %q", s)
	}
	return append(make([]byte, 32-len(b)), b...), nil
}

func (k jwk) public() (crypto.PublicKey, error) {
	num := func(s string) (*big.Int, error) {
		b, err := b64.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("bad base64url number %q", s)
		}
		return new(big.Int).SetBytes(b), nil
	}
	switch k.Kty {
	case "RSA":
		n, err := num(k.N)
		if err != nil {
			return nil, err
		}
		e, err := num(k.E)
		if err != nil {
			return nil, err
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err := fixed32(k.X)
		if err != nil {
			return nil, err
		}
		y, err := fixed32(k.Y)
		if err != nil {
			return nil, err
		}
		pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("invalid P-256 point: %w", err)
		}
		return pk, nil
	}
	return nil, fmt.Errorf("unsupported kty %q", k.Kty)
}
