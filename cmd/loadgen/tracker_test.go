package main

import "testing"

func TestSeqTracker(t *testing.T) {
	tests := []struct {
		name                       string
		start                      uint64
		seqs                       []uint64
		inOrder, dups, reord, gaps uint64
		last                       uint64
	}{
		{name: "empty", start: 5, last: 5},
		{name: "in order from zero", seqs: []uint64{1, 2, 3}, inOrder: 3, last: 3},
		{name: "in order after join", start: 41, seqs: []uint64{42, 43}, inOrder: 2, last: 43},
		{name: "gap", start: 0, seqs: []uint64{1, 4}, inOrder: 1, gaps: 2, last: 4},
		{name: "gap filled late", seqs: []uint64{1, 3, 2}, inOrder: 1, reord: 1, last: 3},
		{name: "duplicate", seqs: []uint64{1, 2, 2, 1}, inOrder: 2, dups: 2, last: 2},
		{name: "old event before join point", start: 10, seqs: []uint64{9, 11}, dups: 1, inOrder: 1, last: 11},
		{name: "reordered then duplicated", seqs: []uint64{2, 1, 1}, reord: 1, dups: 1, last: 2},
		{name: "huge gap overflows memory", seqs: []uint64{maxMissing + 11}, gaps: maxMissing + 10, last: maxMissing + 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr SeqTracker
			if tc.start > 0 {
				tr.Start(tc.start)
			}
			for _, s := range tc.seqs {
				tr.Observe(s)
			}
			if tr.InOrder != tc.inOrder || tr.Duplicates != tc.dups || tr.Reorders != tc.reord || tr.Gaps() != tc.gaps || tr.Last() != tc.last {
				t.Errorf("got inOrder=%d dups=%d reorders=%d gaps=%d last=%d; want %d %d %d %d %d",
					tr.InOrder, tr.Duplicates, tr.Reorders, tr.Gaps(), tr.Last(),
					tc.inOrder, tc.dups, tc.reord, tc.gaps, tc.last)
			}
		})
	}
}
