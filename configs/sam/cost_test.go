package sam

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestCostVariantsDocumented runs every `$ VAR=… make cost` command that
// docs/LAMBDA.md quotes in a code block and checks that each output line
// quoted under it is what cost.sh prints for those variables: the figures
// the docs give for other loads come from the calculator, like the
// default table (cmd/apigw-emulator's TestCostDocumented).
func TestCostVariantsDocumented(t *testing.T) {
	f, err := os.Open("../../docs/LAMBDA.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type variant struct {
		env   []string
		lines []string
	}
	var vs []*variant
	var cur *variant
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "$ ") && strings.Contains(line, "make cost"):
			cmd, _, _ := strings.Cut(strings.TrimPrefix(line, "$ "), "#")
			cur = &variant{}
			for _, w := range strings.Fields(cmd) {
				if w == "make" {
					break
				}
				if !strings.Contains(w, "=") {
					t.Fatalf("docs/LAMBDA.md: %q: only VAR=value before make cost", line)
				}
				cur.env = append(cur.env, w)
			}
			vs = append(vs, cur)
		case cur != nil && (line == "" || strings.HasPrefix(line, "```")):
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 2 {
		t.Fatalf("docs/LAMBDA.md quotes %d make cost variants, want the quiet-class pair at least", len(vs))
	}
	for _, v := range vs {
		t.Run(strings.Join(v.env, " "), func(t *testing.T) {
			if len(v.lines) == 0 {
				t.Fatal("no output line quoted under the command")
			}
			cmd := exec.Command("bash", "cost.sh")
			cmd.Env = append(os.Environ(), v.env...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("cost.sh: %v", err)
			}
			for _, l := range v.lines {
				if !strings.Contains(string(out), l+"\n") {
					t.Errorf("docs/LAMBDA.md quotes %q; cost.sh prints:\n%s", l, out)
				}
			}
		})
	}
}
