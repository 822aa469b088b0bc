package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/classgate/classgate/adapters/redis/redistest"
)

// TestInitClosesTheStoreOnError: when init fails after the Redis store is
// open (here: a plugin file that is not WebAssembly), the store is closed
// — its connections go away — so a retried init does not pile them up.
func TestInitClosesTheStoreOnError(t *testing.T) {
	rs := redistest.StartServer(t)
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("not a WebAssembly module"), 0o644); err != nil {
		t.Fatal(err)
	}
	clients := rs.Clients
	base := clients()
	env := []string{"CLASSGATE_AUTH__HS256_SECRET=test-secret-test-secret-test-secret-0", "CLASSGATE_LAMBDA__CONFIG=",
		"CLASSGATE_STORE__KIND=redis", "CLASSGATE_STORE__REDIS__ADDR=" + rs.Addr(), "CLASSGATE_STORE__REDIS__PREFIX=" + redistest.Prefix(t),
		"CLASSGATE_LAMBDA__COMPILE_CACHE=off", "CLASSGATE_PLUGINS__NAMESPACES__POLL__SOURCE=" + bad}
	var out bytes.Buffer
	if _, err := run(context.Background(), nil, env, &out, time.Now()); err == nil {
		t.Fatal("init succeeded, want an error")
	}
	redistest.WaitFor(t, 10*time.Second, "the failed init's Redis connections to close", func() bool { return clients() <= base })
}
