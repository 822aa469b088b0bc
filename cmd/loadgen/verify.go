package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Delivery verification (-verify): the ledger behind "no acknowledged
// message is ever lost".
//
// Every durable message a publisher sends gets a room-local key (from its
// marker: publisher slot and counter, see msgKey), so messages stay
// distinct even when the room's seq numbers start again after the store
// lost its data. The ledger keeps, per room, every message's scheduled
// send time, the moment its ack arrived and the seq the ack carried; per
// member, how many times each message arrived, which arrived out of
// order, and every resync the member got (when, and the seq it re-joined
// at).
//
// At the end Verify holds every acknowledged message against every member
// that joined before publishing started and was still joined at the end
// (reconnections with since included: a member that resumes must get what
// it missed by replay). Each such (message, member) pair is exactly one
// of:
//
//   - delivered: the member received it (once; a second copy counts as a
//     duplicate, an arrival with a seq not above every seq the member had
//     already seen as out of order: the room's order is its seq order,
//     which a publisher's retry may put after its later messages);
//   - resynced: the member did not receive it, and a resync covers it: the
//     message was acknowledged before the resync arrived, or its seq is at
//     or below the one the member re-joined at after that resync (and it
//     was acknowledged before the member's next resync, if any);
//   - lost: neither. This is the failure the ledger exists to catch.
//
// Messages are attributed to the phase (fault) during which they were
// scheduled; a phase's time to recover is from its start until every room
// had a message scheduled after that start acknowledged and every member
// that reconnected or re-joined in the phase had done so.

// VMsg is one durable message in a room's ledger.
type VMsg struct {
	Sched int64  // scheduled send time, unix nanos
	AckAt int64  // when its ack arrived, unix nanos; 0: never acknowledged
	Seq   uint64 // the seq its ack carried
}

// Acked reports whether the message was acknowledged.
func (m VMsg) Acked() bool { return m.AckAt != 0 }

// ResyncEp is one resync a member received and its re-join.
type ResyncEp struct {
	At       int64  // the resync arrived, unix nanos
	RejoinAt int64  // the re-join's joined arrived, unix nanos; 0: never
	Seq      uint64 // the seq of that joined
}

// VMember is what one member of a room received.
type VMember struct {
	Got     []uint8    // copies received, by message key
	Late    []int      // keys of messages that arrived out of order
	Resyncs []ResyncEp // in order
	Rejoins []int64    // every reconnect or re-join after the first join, unix nanos
	Joined  bool       // joined before publishing started
	Dropped bool       // gave up reconnecting, or never completed a re-join
}

// VRoom is one room's ledger.
type VRoom struct {
	Msgs    []VMsg // by message key; a zero Sched is a key never used
	Members []VMember
}

// PhaseMark is the start of one phase of a run (a fault, or steady load).
type PhaseMark struct {
	Name  string
	Start int64 // unix nanos
}

// PhaseResult is the verdict of one phase.
type PhaseResult struct {
	Phase      string  `json:"phase"`
	Acked      uint64  `json:"acked"`      // messages acknowledged
	Expected   uint64  `json:"expected"`   // acked × members that stayed joined
	Delivered  uint64  `json:"delivered"`  // of Expected, received
	Resynced   uint64  `json:"resynced"`   // of Expected, not received but covered by a resync
	Lost       uint64  `json:"lost"`       // of Expected, neither: must be 0
	Duplicates uint64  `json:"duplicates"` // extra copies received: must be 0
	OutOfOrder uint64  `json:"out_of_order"`
	Unacked    uint64  `json:"unacked"` // sent, never acknowledged (errors, cut connections)
	Recovery   float64 `json:"recovery_s"`
	// Recovered is false when some room had no acknowledged message
	// scheduled in the phase, so there is no time to recover.
	Recovered bool `json:"recovered"`
	// Slowest says what the time to recover waited for last.
	Slowest string `json:"slowest,omitempty"`
}

// VerifyReport is the ledger's verdict for a run.
type VerifyReport struct {
	Phases  []PhaseResult `json:"phases"`
	Total   PhaseResult   `json:"total"`
	Members int           `json:"members"` // joined at the start and still joined at the end
	Dropped int           `json:"dropped"` // joined at the start, gone at the end
	// LostSample describes a few lost deliveries, for the diagnosis.
	LostSample []string `json:"lost_sample,omitempty"`
	// LateSample describes a few out-of-order arrivals (filled by the run).
	LateSample []string `json:"late_sample,omitempty"`
}

// maxLostSample bounds VerifyReport.LostSample.
const maxLostSample = 10

// phaseOf returns the index of the phase t falls in (phases sorted by
// start); times before the first phase belong to it.
func phaseOf(phases []PhaseMark, t int64) int {
	i := sort.Search(len(phases), func(i int) bool { return phases[i].Start > t })
	return max(0, i-1)
}

// covered reports whether a resync of the member accounts for message m:
// m was acknowledged before the resync arrived, or it is at or below the
// seq the member re-joined at (it precedes the join point: the commit came
// before the member's snapshot, even when the publisher's ack arrived
// after the member's joined) and was acknowledged before the member's next
// resync, whose re-join seq belongs to a later start of the room.
func covered(eps []ResyncEp, m VMsg) bool {
	for i, e := range eps {
		if m.AckAt < e.At {
			return true
		}
		next := int64(1<<63 - 1)
		if i+1 < len(eps) {
			next = eps[i+1].At
		}
		if e.RejoinAt != 0 && m.Seq <= e.Seq && m.AckAt < next {
			return true
		}
	}
	return false
}

// Verify computes the verdict from the ledger. phases must be sorted by
// start and hold at least one phase.
func Verify(phases []PhaseMark, rooms []VRoom) VerifyReport {
	if len(phases) == 0 {
		// One phase from the first message on.
		first := int64(0)
		for _, rm := range rooms {
			for _, m := range rm.Msgs {
				if m.Sched != 0 && (first == 0 || m.Sched < first) {
					first = m.Sched
				}
			}
		}
		phases = []PhaseMark{{Name: "run", Start: first}}
	}
	res := make([]PhaseResult, len(phases))
	for i, p := range phases {
		res[i] = PhaseResult{Phase: p.Name, Recovered: true}
	}
	var rep VerifyReport
	// recoveredAt[i]: the latest moment phase i still waited for.
	recoveredAt := make([]int64, len(phases))
	slowest := make([]string, len(phases))
	later := func(pi int, t int64, what string) {
		if t > recoveredAt[pi] {
			recoveredAt[pi], slowest[pi] = t, what
		}
	}
	for ri := range rooms {
		rm := &rooms[ri]
		firstAck := make([]int64, len(phases)) // per phase, earliest ack of a message scheduled in it
		for k, m := range rm.Msgs {
			if m.Sched == 0 {
				continue
			}
			pi := phaseOf(phases, m.Sched)
			pr := &res[pi]
			if !m.Acked() {
				pr.Unacked++
				continue
			}
			pr.Acked++
			if firstAck[pi] == 0 || m.AckAt < firstAck[pi] {
				firstAck[pi] = m.AckAt
			}
			for mi := range rm.Members {
				mb := &rm.Members[mi]
				if !mb.Joined || mb.Dropped {
					continue
				}
				pr.Expected++
				n := uint8(0)
				if k < len(mb.Got) {
					n = mb.Got[k]
				}
				switch {
				case n > 0:
					pr.Delivered++
					pr.Duplicates += uint64(n - 1)
				case covered(mb.Resyncs, m):
					pr.Resynced++
				default:
					pr.Lost++
					if len(rep.LostSample) < maxLostSample {
						rep.LostSample = append(rep.LostSample, fmt.Sprintf(
							"room %d member %d: message %d (seq %d, scheduled %+.3fs, acked %+.3fs into %s) never arrived; member got %d resyncs %s, rejoins at %s",
							ri, mi, k, m.Seq, secs(m.Sched-phases[pi].Start), secs(m.AckAt-phases[pi].Start), phases[pi].Name,
							len(mb.Resyncs), epString(mb.Resyncs, phases[pi].Start), timesString(mb.Rejoins, phases[pi].Start)))
					}
				}
			}
		}
		for pi := range phases {
			if firstAck[pi] == 0 {
				res[pi].Recovered = false
				continue
			}
			later(pi, firstAck[pi], fmt.Sprintf("room %d's first ack", ri))
		}
		for mi := range rm.Members {
			mb := &rm.Members[mi]
			if !mb.Joined {
				continue
			}
			if mb.Dropped {
				rep.Dropped++
				continue
			}
			rep.Members++
			for _, k := range mb.Late {
				if k < len(rm.Msgs) && rm.Msgs[k].Sched != 0 {
					res[phaseOf(phases, rm.Msgs[k].Sched)].OutOfOrder++
				}
			}
			for _, t := range mb.Rejoins {
				pi := phaseOf(phases, t)
				later(pi, t, fmt.Sprintf("room %d member %d's reconnect or re-join", ri, mi))
			}
		}
	}
	for i := range res {
		if res[i].Recovered {
			res[i].Recovery = round(max(0, time.Duration(recoveredAt[i]-phases[i].Start)).Seconds(), 2)
			res[i].Slowest = slowest[i]
		}
		t := &rep.Total
		t.Acked += res[i].Acked
		t.Expected += res[i].Expected
		t.Delivered += res[i].Delivered
		t.Resynced += res[i].Resynced
		t.Lost += res[i].Lost
		t.Duplicates += res[i].Duplicates
		t.OutOfOrder += res[i].OutOfOrder
		t.Unacked += res[i].Unacked
	}
	rep.Total.Phase = "total"
	rep.Total.Recovered = true
	for _, r := range res {
		rep.Total.Recovered = rep.Total.Recovered && r.Recovered
		rep.Total.Recovery = max(rep.Total.Recovery, r.Recovery)
	}
	rep.Phases = res
	return rep
}

// Failures lists what makes the verdict a failure.
func (v *VerifyReport) Failures() []string {
	var f []string
	for _, p := range append(append([]PhaseResult(nil), v.Phases...), v.Total) {
		if p.Phase == "total" {
			continue
		}
		if p.Lost > 0 {
			f = append(f, fmt.Sprintf("%s: %d acknowledged deliveries lost", p.Phase, p.Lost))
		}
		if p.Duplicates > 0 {
			f = append(f, fmt.Sprintf("%s: %d duplicate deliveries", p.Phase, p.Duplicates))
		}
		if p.OutOfOrder > 0 {
			f = append(f, fmt.Sprintf("%s: %d deliveries out of order", p.Phase, p.OutOfOrder))
		}
		if !p.Recovered {
			f = append(f, fmt.Sprintf("%s: some room had no acknowledged message (not recovered)", p.Phase))
		}
	}
	if v.Dropped > 0 {
		f = append(f, fmt.Sprintf("%d members dropped (could not reconnect or re-join)", v.Dropped))
	}
	if v.Members == 0 {
		f = append(f, "no member to verify")
	}
	return f
}

// Table renders the verdict as a Markdown table, one row per phase and a
// total.
func (v *VerifyReport) Table() string {
	var b strings.Builder
	b.WriteString("| phase | acked msgs | deliveries expected | delivered | resynced | lost | dup | out of order | unacked msgs | time to recover |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, p := range append(append([]PhaseResult(nil), v.Phases...), v.Total) {
		rec := "not recovered"
		if p.Recovered {
			rec = fmt.Sprintf("%.2f s", p.Recovery)
		}
		if p.Phase == "total" && p.Recovered {
			rec = fmt.Sprintf("max %.2f s", p.Recovery)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %s |\n",
			p.Phase, p.Acked, p.Expected, p.Delivered, p.Resynced, p.Lost, p.Duplicates, p.OutOfOrder, p.Unacked, rec)
	}
	return b.String()
}

func secs(d int64) float64 { return time.Duration(d).Seconds() }

func epString(eps []ResyncEp, base int64) string {
	var parts []string
	for _, e := range eps {
		parts = append(parts, fmt.Sprintf("{at %+.3fs, rejoined %+.3fs at seq %d}", secs(e.At-base), secs(e.RejoinAt-base), e.Seq))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func timesString(ts []int64, base int64) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%+.3fs", secs(t-base)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
