// Package redistest starts real redis-server processes for tests: a single
// server, a primary with replicas watched by three Sentinels, and a Redis
// Cluster. Every process listens on a free 127.0.0.1 port, keeps its files
// in a temporary directory, persists nothing (--save "" --appendonly no)
// and is killed when the test ends.
//
// When redis-server is missing, the helpers run scripts/install-redis.sh
// (apt-get, via sudo when not root) once; if that fails the test is skipped
// with the reason.
//
//	srv := redistest.StartServer(t)
//	store, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: redistest.Prefix(t)})
//	...
//	srv.Kill()    // Redis goes away (SIGKILL)
//	srv.Restart() // and comes back on the same port, empty
//
// Waits are bounded: a server that does not answer within 10 seconds fails
// the test. Tests of different packages may run these helpers in parallel;
// keys are isolated with Prefix.
package redistest
