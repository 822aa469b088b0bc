// Command guest is a test plugin for plugins/host: each action exercises
// one behaviour (echo, panic, infinite loop, memory bomb, exit, bad output…).
package main

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/classgate/classgate/plugins/abi/jsonlite"
	"github.com/classgate/classgate/plugins/sdk"
)

func init() {
	sdk.Register(New)
	sdk.Warmup(sdk.Sample{Action: "warm"})
}

func main() {}

var (
	warmed uint64 // warm-up calls served (config "warm": "" counts them)
	spin   uint64
	hold   [][]byte
	hold2  []byte
)

// New reads {"version": "...", "fail_init": bool, "warm": "" | "fail" | "panic"}.
func New(cfg sdk.Config) (sdk.Handler, error) {
	version, err := cfg.String("version", "a")
	if err != nil {
		return nil, err
	}
	if fail, _ := cfg.Bool("fail_init", false); fail {
		return nil, errors.New("init refused by config")
	}
	warm, err := cfg.String("warm", "")
	if err != nil {
		return nil, err
	}
	return func(c *sdk.Call) error {
		switch c.Hook {
		case sdk.HookJoin:
			return c.Reply("joined", []byte(`{"version":`+strconv.Quote(version)+`}`))
		case sdk.HookLeave:
			return nil
		}
		switch c.Action {
		case "warm": // a warm-up sample: it writes state and emits, all to be dropped
			switch warm {
			case "fail":
				return errors.New("warm-up refused by config")
			case "panic":
				panic("warm-up panicked")
			}
			warmed++
			if err := c.Set("warm", []byte("1")); err != nil {
				return err
			}
			return c.Broadcast("warm", []byte(`{}`))
		case "warmed":
			return c.Broadcast("warmed", []byte(`{"warmed":`+strconv.FormatUint(warmed, 10)+`}`))
		case "echo":
			out := []byte(`{"version":` + strconv.Quote(version) + `,"seq":` + strconv.FormatUint(c.Seq, 10) + `,"data":`)
			if len(c.Data) == 0 {
				out = append(out, "null"...)
			} else {
				out = append(out, c.Data...)
			}
			out = append(out, '}')
			if err := c.Set("last", c.Data); err != nil {
				return err
			}
			if err := c.Broadcast("echo", out); err != nil {
				return err
			}
			if err := c.Send(sdk.ToOthers(), "others", nil); err != nil {
				return err
			}
			if err := c.Send(sdk.ToRole("teacher"), "teachers", []byte(`1`)); err != nil {
				return err
			}
			return c.Reply("ok", []byte(`{}`))
		case "state":
			v, _ := c.Get("last")
			if err := c.Set("x:2", []byte(`"two"`)); err != nil {
				return err
			}
			if err := c.Del("x:1"); err != nil {
				return err
			}
			out := []byte(`{"last":`)
			if v == nil {
				v = []byte("null")
			}
			out = append(out, v...)
			out = append(out, `,"keys":[`...)
			for i, e := range c.List("x:") {
				if i > 0 {
					out = append(out, ',')
				}
				out = jsonlite.AppendString(out, e.Key+"="+string(e.Value))
			}
			return c.Reply("state", append(out, "]}"...))
		case "reject":
			return c.Reject("nope")
		case "error":
			return errors.New("plugin says no")
		case "panic":
			panic("boom")
		case "loop":
			for {
				spin++
			}
		case "slow":
			// Busy for 150 ms of wall time, then answers: a call that
			// ends, but later than a 100 ms deadline.
			for end := time.Now().Add(150 * time.Millisecond); time.Now().Before(end); {
				spin++
			}
			return c.Reply("slow", []byte(`{}`))
		case "bomb":
			for {
				hold = append(hold, make([]byte, 1<<20))
			}
		case "exit":
			os.Exit(3)
		case "badjson":
			return c.Broadcast("x", []byte("{nope"))
		case "badutf8":
			return c.Broadcast("x", []byte("{\"t\":\"\xff\"}"))
		case "badtype":
			return c.Send(sdk.ToRoom(), "Bad Type", nil)
		case "longtype":
			return c.Send(sdk.ToRoom(), strings.Repeat("x", 70), nil)
		case "bigreply":
			big := make([]byte, 0, 1<<20+16)
			big = append(big, '"')
			for len(big) < 1<<20+8 {
				big = append(big, 'x')
			}
			return c.Reply("big", append(big, '"'))
		case "forbid":
			return c.Forbid("teachers only")
		case "badtarget":
			return c.Send(sdk.ToRole(""), "x", nil)
		case "many":
			for i := 0; i < 100; i++ {
				if err := c.Send(sdk.ToRoom(), "x", nil); err != nil {
					return err
				}
			}
		case "b-parse":
			obj, err := c.Object()
			if err != nil {
				return err
			}
			_, _, err = obj.String("text")
			return err
		case "b-emit":
			return c.Broadcast("message", c.Data)
		case "b-get":
			c.Get("n")
		case "b-set":
			return c.Set("k", c.Data)
		case "b-alloc":
			for i := 0; i < 10; i++ {
				hold2 = make([]byte, 64)
			}
		case "log":
			c.Log(sdk.LevelInfo, "hello from the guest")
		}
		return nil
	}, nil
}
