package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// SignHS256 issues an HS256 token for claims. The gateway uses it only for
// its dev-mode token endpoint; tools (loadgen, tests) use it to mint tokens.
func SignHS256(secret []byte, c Claims) (string, error) {
	hb, _ := json.Marshal(header{Alg: "HS256", Typ: "JWT"})
	pb, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("auth: encode claims: %w", err)
	}
	s := b64.EncodeToString(hb) + "." + b64.EncodeToString(pb)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(s))
	return s + "." + b64.EncodeToString(m.Sum(nil)), nil
}
