package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	code, err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
	}
	os.Exit(code)
}

// Exit codes.
const (
	exitPass  = 0 // everything arrived, no errors
	exitFail  = 1 // the run finished but lost messages or saw errors
	exitUsage = 2 // bad flags or setup
)

// run parses args, runs the load and writes the report; it returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	cfg, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPass, nil
	}
	if err != nil {
		return exitUsage, err
	}
	if err := raiseFileLimit(cfg.Conns() + 256); err != nil {
		return exitUsage, err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return exitUsage, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return exitUsage, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	lg := NewRun(cfg, stderr)
	lg.Control = os.Stdin
	rep := lg.Execute(ctx)
	switch {
	case cfg.JSON:
		err = rep.WriteJSON(stdout)
	case cfg.Markdown:
		err = rep.WriteMarkdown(stdout)
	default:
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return exitFail, err
	}
	if !rep.Pass && !cfg.AllowLoss {
		return exitFail, nil
	}
	return exitPass, nil
}

// raiseFileLimit lifts RLIMIT_NOFILE's soft limit to the hard limit (and
// the hard limit too, when allowed), and fails when it stays below need:
// every connection is a file descriptor.
func raiseFileLimit(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("get RLIMIT_NOFILE: %w", err)
	}
	if lim.Max < uint64(need) {
		want := lim
		want.Max, want.Cur = uint64(need), uint64(need)
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			lim = want
		}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
		}
	}
	if lim.Cur < uint64(need) {
		return fmt.Errorf("RLIMIT_NOFILE is %d, %d connections need about %d (raise the hard limit: ulimit -Hn)", lim.Cur, need-256, need)
	}
	return nil
}
