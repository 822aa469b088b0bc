package memory

import "testing"

// TestAppendReusing: a log trimmed to a limit keeps its contents in
// order and stops allocating once its array has room for the limit.
func TestAppendReusing(t *testing.T) {
	tests := []struct {
		name  string
		limit int
	}{{"limit 1", 1}, {"limit 7", 7}, {"limit 100", 100}, {"limit 1000", 1000}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s, arr []int
			next := 0
			push := func() {
				s, arr = appendReusing(s, arr, next)
				next++
				if len(s) > tt.limit {
					s = s[len(s)-tt.limit:]
				}
			}
			for range 10 * tt.limit {
				push()
			}
			for i, v := range s {
				if want := next - len(s) + i; v != want {
					t.Fatalf("s[%d] = %d, want %d", i, v, want)
				}
			}
			if allocs := testing.AllocsPerRun(100, push); allocs != 0 {
				t.Errorf("%v allocations per append at the limit, want 0", allocs)
			}
			if c := cap(arr); c > 4*tt.limit+8 {
				t.Errorf("array of %d for a limit of %d", c, tt.limit)
			}
			for i, v := range s {
				if want := next - len(s) + i; v != want {
					t.Fatalf("after more appends s[%d] = %d, want %d", i, v, want)
				}
			}
		})
	}
}
