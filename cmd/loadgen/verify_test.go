package main

import (
	"strings"
	"testing"
)

// TestVerify holds the ledger's verdict to its rules with hand-made
// ledgers: one room, three messages acked at t=10,20,30 with seqs 1,2,3
// (phase "steady" from 0, phase "fault" from 25 unless a case says
// otherwise), and members shaped by each case.
func TestVerify(t *testing.T) {
	msgs := func() []VMsg {
		return []VMsg{{Sched: 5, AckAt: 10, Seq: 1}, {Sched: 15, AckAt: 20, Seq: 2}, {Sched: 26, AckAt: 30, Seq: 3}}
	}
	all := func() VMember { return VMember{Joined: true, Got: []uint8{1, 1, 1}} }
	phases := []PhaseMark{{Name: "steady", Start: 0}, {Name: "fault", Start: 25}}
	type counts struct{ acked, expected, delivered, resynced, lost, dup, late, unacked uint64 }
	tests := []struct {
		name     string
		msgs     []VMsg
		members  []VMember
		total    counts
		fails    []string // substrings of the failures; none = pass
		dropped  int
		recovery [2]float64 // per phase, seconds (times here are nanos)
		unrecov  string     // the phase that must be unrecovered, if any
	}{
		{
			name:    "all delivered once in order",
			members: []VMember{all(), all()},
			total:   counts{acked: 3, expected: 6, delivered: 6},
		},
		{
			name:    "a lost delivery is flagged",
			members: []VMember{all(), {Joined: true, Got: []uint8{1, 0, 1}}},
			total:   counts{acked: 3, expected: 6, delivered: 5, lost: 1},
			fails:   []string{"steady: 1 acknowledged deliveries lost"},
		},
		{
			name:    "a member that never got later messages (short Got) loses them",
			members: []VMember{{Joined: true, Got: []uint8{1}}},
			total:   counts{acked: 3, expected: 3, delivered: 1, lost: 2},
			fails:   []string{"steady: 1 acknowledged", "fault: 1 acknowledged"},
		},
		{
			name:    "a duplicate is flagged",
			members: []VMember{{Joined: true, Got: []uint8{1, 2, 1}}},
			total:   counts{acked: 3, expected: 3, delivered: 3, dup: 1},
			fails:   []string{"steady: 1 duplicate"},
		},
		{
			name:    "an out-of-order arrival is flagged in the phase of its message",
			members: []VMember{{Joined: true, Got: []uint8{1, 1, 1}, Late: []int{2}}},
			total:   counts{acked: 3, expected: 3, delivered: 3, late: 1},
			fails:   []string{"fault: 1 deliveries out of order"},
		},
		{
			name: "missing messages acked before a resync are resynced, not lost",
			members: []VMember{{Joined: true, Got: []uint8{0, 0, 1},
				Resyncs: []ResyncEp{{At: 22, RejoinAt: 24, Seq: 2}}, Rejoins: []int64{24}}},
			total: counts{acked: 3, expected: 3, delivered: 1, resynced: 2},
		},
		{
			name: "a message acked between resync and re-join at or below the joined seq is resynced",
			members: []VMember{{Joined: true, Got: []uint8{1, 0, 1},
				Resyncs: []ResyncEp{{At: 18, RejoinAt: 21, Seq: 2}}, Rejoins: []int64{21}}},
			total: counts{acked: 3, expected: 3, delivered: 2, resynced: 1},
		},
		{
			name: "a message acked between resync and re-join above the joined seq must arrive",
			members: []VMember{{Joined: true, Got: []uint8{1, 0, 1},
				Resyncs: []ResyncEp{{At: 18, RejoinAt: 21, Seq: 1}}, Rejoins: []int64{21}}},
			total: counts{acked: 3, expected: 3, delivered: 2, lost: 1},
			fails: []string{"steady: 1 acknowledged deliveries lost"},
		},
		{
			name: "a message acked after the re-join at or below the joined seq is resynced (committed before the join point)",
			members: []VMember{{Joined: true, Got: []uint8{1, 1, 0},
				Resyncs: []ResyncEp{{At: 27, RejoinAt: 28, Seq: 3}}, Rejoins: []int64{28}}},
			total: counts{acked: 3, expected: 3, delivered: 2, resynced: 1},
		},
		{
			name: "an older re-join seq does not cover a message acked after the next resync's re-join",
			members: []VMember{{Joined: true, Got: []uint8{1, 1, 0},
				Resyncs: []ResyncEp{{At: 12, RejoinAt: 13, Seq: 5}, {At: 27, RejoinAt: 28, Seq: 0}}, Rejoins: []int64{13, 28}}},
			total: counts{acked: 3, expected: 3, delivered: 2, lost: 1},
			fails: []string{"fault: 1 acknowledged deliveries lost"},
		},
		{
			name: "a message acked after the re-join is not covered by the resync",
			members: []VMember{{Joined: true, Got: []uint8{1, 1, 0},
				Resyncs: []ResyncEp{{At: 22, RejoinAt: 24, Seq: 2}}, Rejoins: []int64{24}}},
			total: counts{acked: 3, expected: 3, delivered: 2, lost: 1},
			fails: []string{"fault: 1 acknowledged deliveries lost"},
		},
		{
			name:    "a member that joined late or was dropped is not held to anything, but a drop fails",
			members: []VMember{all(), {Joined: false}, {Joined: true, Dropped: true}},
			total:   counts{acked: 3, expected: 3, delivered: 3},
			dropped: 1,
			fails:   []string{"1 members dropped"},
		},
		{
			name:    "unacknowledged messages are counted, never expected",
			msgs:    []VMsg{{Sched: 5, AckAt: 10, Seq: 1}, {Sched: 15}, {}, {Sched: 26, AckAt: 30, Seq: 2}},
			members: []VMember{{Joined: true, Got: []uint8{1, 1, 0, 1}}},
			total:   counts{acked: 2, expected: 2, delivered: 2, unacked: 1},
		},
		{
			name:    "a phase without an acknowledged message did not recover",
			msgs:    []VMsg{{Sched: 5, AckAt: 10, Seq: 1}, {Sched: 26}},
			members: []VMember{{Joined: true, Got: []uint8{1}}},
			total:   counts{acked: 1, expected: 1, delivered: 1, unacked: 1},
			fails:   []string{"fault: some room had no acknowledged message"},
			unrecov: "fault",
		},
		{
			name: "recovery is the later of the first ack and the last re-join in the phase",
			msgs: []VMsg{{Sched: 5, AckAt: 10, Seq: 1}, {Sched: 26, AckAt: 2e9 + 25, Seq: 2}},
			members: []VMember{
				{Joined: true, Got: []uint8{1, 1}, Rejoins: []int64{3e9 + 25}},
				{Joined: true, Got: []uint8{1, 1}, Rejoins: []int64{1e9 + 25}},
			},
			total:    counts{acked: 2, expected: 4, delivered: 4},
			recovery: [2]float64{0, 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.msgs
			if m == nil {
				m = msgs()
			}
			v := Verify(phases, []VRoom{{Msgs: m, Members: tc.members}})
			got := counts{v.Total.Acked, v.Total.Expected, v.Total.Delivered, v.Total.Resynced, v.Total.Lost, v.Total.Duplicates, v.Total.OutOfOrder, v.Total.Unacked}
			if got != tc.total {
				t.Errorf("totals %+v, want %+v", got, tc.total)
			}
			if v.Total.Delivered+v.Total.Resynced+v.Total.Lost != v.Total.Expected {
				t.Errorf("delivered %d + resynced %d + lost %d != expected %d", v.Total.Delivered, v.Total.Resynced, v.Total.Lost, v.Total.Expected)
			}
			if v.Dropped != tc.dropped {
				t.Errorf("dropped %d, want %d", v.Dropped, tc.dropped)
			}
			f := v.Failures()
			if len(tc.fails) == 0 && len(f) > 0 {
				t.Errorf("failures %q, want none", f)
			}
			joined := strings.Join(f, "; ")
			for _, want := range tc.fails {
				if !strings.Contains(joined, want) {
					t.Errorf("failures %q lack %q", f, want)
				}
			}
			if tc.recovery != [2]float64{} {
				for i, want := range tc.recovery {
					if v.Phases[i].Recovery != want {
						t.Errorf("phase %s recovery %v s, want %v", v.Phases[i].Phase, v.Phases[i].Recovery, want)
					}
				}
			}
			for _, p := range v.Phases {
				if p.Recovered != (p.Phase != tc.unrecov) {
					t.Errorf("phase %s recovered=%v", p.Phase, p.Recovered)
				}
			}
			if !strings.Contains(v.Table(), "| total |") {
				t.Errorf("table without a total row:\n%s", v.Table())
			}
		})
	}
}

func TestParseMarker(t *testing.T) {
	tests := []struct {
		data  string
		sched int64
		pub   int
		n     uint64
		ok    bool
	}{
		{`{"text":"lg:1700000000000000000:42:7"}`, 1700000000000000000, 42, 7, true},
		{`{"text":"lg:1:2:3 xxxx"}`, 1, 2, 3, true},
		{`{"element":{"id":"lg:5:0:1","kind":"stroke"}}`, 5, 0, 1, true},
		{`{"text":"lg:1:2"}`, 0, 0, 0, false},
		{`{"text":"lg:1:x:3"}`, 0, 0, 0, false},
		{`{"text":"hello"}`, 0, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.data, func(t *testing.T) {
			s, p, n, ok := parseMarker([]byte(tc.data))
			if s != tc.sched || p != tc.pub || n != tc.n || ok != tc.ok {
				t.Errorf("got %d %d %d %v, want %d %d %d %v", s, p, n, ok, tc.sched, tc.pub, tc.n, tc.ok)
			}
		})
	}
}
