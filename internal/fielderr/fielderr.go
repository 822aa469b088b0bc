package fielderr

import (
	"errors"
	"fmt"
)

// Error is a problem with the value at Key (a dotted key path, e.g.
// "store.redis.addr").
type Error struct {
	Key string
	Err error
}

// Error returns "key: problem".
func (e *Error) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns the Error of key with a formatted problem.
func Errorf(key, format string, args ...any) *Error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

// Under returns err with every *Error in it (alone, joined by errors.Join
// or wrapped by fmt.Errorf's %w) moved under prefix: key k becomes
// prefix.k. The context that wrapped an *Error (e.g. "redis: ") is
// dropped: the key now says where the problem is. Any other error becomes
// an *Error of prefix itself. Under(prefix, nil) is nil.
func Under(prefix string, err error) error {
	return errors.Join(under(prefix, err)...)
}

func under(prefix string, err error) []error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) && fe == err {
		return []error{&Error{Key: join(prefix, fe.Key), Err: fe.Err}}
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, e := range u.Unwrap() {
			out = append(out, under(prefix, e)...)
		}
		return out
	case interface{ Unwrap() error }:
		if errors.As(err, &fe) {
			return under(prefix, u.Unwrap())
		}
	}
	return []error{&Error{Key: prefix, Err: err}}
}

func join(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	}
	return prefix + "." + key
}

// Keys returns the key of every *Error in err (joined or wrapped), in
// order.
func Keys(err error) []string {
	var keys []string
	for _, e := range under("", err) {
		keys = append(keys, e.(*Error).Key)
	}
	return keys
}
