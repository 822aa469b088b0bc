// Command failing is a test plugin for classgate-plugin check: it loads
// (cg_init succeeds) but every cg_handle fails, by its config: {"mode":
// "error"} returns an error, "panic" panics, "join" fails joins only,
// "warm" fails only its warm-up sample (sdk.Warmup), which the host then
// reports as a warning.
package main

import (
	"errors"

	"github.com/classgate/classgate/plugins/sdk"
)

func init() {
	sdk.Register(New)
	sdk.Warmup(sdk.Sample{Action: "warm"})
}

func main() {}

// New reads {"mode": "error" | "panic" | "join" | "warm"}.
func New(cfg sdk.Config) (sdk.Handler, error) {
	mode, err := cfg.String("mode", "error")
	if err != nil {
		return nil, err
	}
	return func(c *sdk.Call) error {
		if c.Room == "" && c.Action == "warm" { // the warm-up sample
			if mode == "warm" {
				return errors.New("broken warm-up")
			}
			return nil
		}
		switch mode {
		case "warm":
			return nil
		case "panic":
			panic("broken handler")
		case "join":
			if c.Hook != sdk.HookJoin {
				return nil
			}
		}
		return errors.New("broken handler")
	}, nil
}
