// Command failing is a test plugin for classgate-plugin check: it loads
// (cg_init succeeds) but every cg_handle fails, by its config: {"mode":
// "error"} returns an error, "panic" panics, "join" fails joins only.
package main

import (
	"errors"

	"github.com/classgate/classgate/plugins/sdk"
)

func init() { sdk.Register(New) }

func main() {}

// New reads {"mode": "error" | "panic" | "join"}.
func New(cfg sdk.Config) (sdk.Handler, error) {
	mode, err := cfg.String("mode", "error")
	if err != nil {
		return nil, err
	}
	return func(c *sdk.Call) error {
		switch mode {
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
