// The classgate poll plugin (namespace "poll") in AssemblyScript: the same
// frames, events, data shapes, reasons, configuration and state layout as
// the Go poll (plugins/poll/main.go), so one set of tests covers both
// (plugins/assemblyscript/conformance_test.go). Built by plugins/build.sh
// to plugins/embedded/wasm/poll-as.wasm and enabled by configuration:
//
//   plugins:
//     namespaces:
//       poll: {source: embedded:poll-as, rollout: 10}
//
// Frames:
//
//   poll.open {question, options:[…]} → durable poll.opened {question, options}
//                                       (roles in open_roles; replaces any poll)
//   poll.vote {choice}                → durable poll.tally {counts:[…], votes}
//                                       (once per user, while open; choice is
//                                       the option's index)
//   poll.close {}                     → durable poll.closed {counts, votes}
//                                       (roles in open_roles)
//   (every join)                      → reply poll.state {open, question,
//                                       options, counts, votes} ({"open":false}
//                                       when there has been no poll)
//
// Config (all optional): open_roles ([teacher]), max_options (10),
// max_question (300 bytes), max_option (100 bytes).
//
// State: "p" → {"question":…,"options":[…]} of the current poll; "o" → "1"
// while open, "0" once closed; "t" → the counts, comma-separated; "v:<user
// id>" → the user's choice.

import {
  Buf,
  Call,
  Config,
  Err,
  Handler,
  Hook,
  register,
  elements,
  unquote,
  lookup,
  parseInt,
  isBlank,
  bytesEqualString,
  utf8,
} from "../sdk/index";

export * from "../sdk/exports";

class Poll extends Handler {
  openRoles: string[] = ["teacher"];
  maxOptions: i64 = 10;
  maxQuestion: i64 = 300;
  maxOption: i64 = 100;
  buf: Buf = new Buf(); // reused for outputs (the host copies them)
  counts: i64[] = [];

  handle(c: Call): Err {
    if (c.hook == Hook.Join) return this.join(c);
    if (c.hook == Hook.Leave) return null;
    if (c.action == "open") return this.open(c);
    if (c.action == "vote") return this.vote(c);
    if (c.action == "close") return this.close(c);
    return c.reject("unknown type " + c.type);
  }

  mayOpen(c: Call): bool {
    return this.openRoles.includes(c.sender.role);
  }

  forbidden(c: Call): Err {
    return c.forbid("only " + this.openRoles.join(", ") + " can open or close a poll");
  }

  open(c: Call): Err {
    if (!this.mayOpen(c)) return this.forbidden(c);
    const obj = c.object();
    if (obj === null) return c.reject("data must be an object {question, options}");
    const q = unquote(obj.get("question")); // null when absent, null or not a string
    if (q === null || isBlank(q) || q.length > this.maxQuestion) {
      return c.reject("question must be a non-empty string of at most " + this.maxQuestion.toString() + " bytes");
    }
    const opts = elements(obj.get("options"));
    if (opts === null || opts.length < 2 || opts.length > this.maxOptions) {
      return c.reject("options must be an array of 2–" + this.maxOptions.toString() + " strings");
    }
    const b = this.buf.reset().str('{"question":').jsonString(q).str(',"options":[');
    for (let i = 0; i < opts.length; i++) {
      const s = unquote(opts[i]);
      if (s === null || s.length == 0 || s.length > this.maxOption) {
        return c.reject("each option must be a non-empty string of at most " + this.maxOption.toString() + " bytes");
      }
      if (i > 0) b.byte(0x2c);
      b.jsonString(s);
    }
    b.str("]}");
    let err = c.clear(); // the previous poll and its votes
    if (err !== null) return err;
    if ((err = c.set("p", b.view())) !== null) return err;
    if ((err = c.setString("o", "1")) !== null) return err;
    const zero = new Buf();
    for (let i = 0; i < opts.length; i++) {
      if (i > 0) zero.byte(0x2c);
      zero.byte(0x30);
    }
    if ((err = c.set("t", zero.view())) !== null) return err;
    return c.broadcast("opened", b.view());
  }

  // tally reads the counts into this.counts.
  tally(c: Call): bool {
    const raw = c.get("t");
    if (raw === null) return false;
    this.counts = [];
    let start = 0;
    for (let i = 0; i <= raw.length; i++) {
      if (i == raw.length || raw[i] == 0x2c) {
        const n = parseInt(raw.subarray(start, i));
        this.counts.push(n === null ? 0 : n.value);
        start = i + 1;
      }
    }
    return true;
  }

  // appendCounts appends "counts":[…],"votes":n.
  appendCounts(b: Buf): Buf {
    b.str('"counts":[');
    let votes: i64 = 0;
    for (let i = 0; i < this.counts.length; i++) {
      if (i > 0) b.byte(0x2c);
      b.int(this.counts[i]);
      votes += this.counts[i];
    }
    return b.str('],"votes":').int(votes);
  }

  isOpen(c: Call): bool {
    return bytesEqualString(c.get("o"), "1") && this.tally(c);
  }

  vote(c: Call): Err {
    if (!this.isOpen(c)) return c.reject("no poll is open");
    const key = "v:" + c.sender.id;
    if (c.has(key)) return c.reject("you have already voted");
    const raw = lookup(c.data, "choice");
    const choice = parseInt(raw);
    if (raw === null || choice === null || choice.value < 0 || choice.value >= this.counts.length) {
      return c.reject("choice must be the index of an option, 0–" + (this.counts.length - 1).toString());
    }
    const i = <i32>choice.value;
    this.counts[i] = this.counts[i] + 1;
    const b = this.buf.reset();
    for (let k = 0; k < this.counts.length; k++) {
      if (k > 0) b.byte(0x2c);
      b.int(this.counts[k]);
    }
    let err = c.set("t", b.view());
    if (err !== null) return err;
    if ((err = c.set(key, raw)) !== null) return err;
    this.appendCounts(b.reset().byte(0x7b)).byte(0x7d);
    return c.broadcast("tally", b.view());
  }

  close(c: Call): Err {
    if (!this.mayOpen(c)) return this.forbidden(c);
    if (!this.isOpen(c)) return c.reject("no poll is open");
    const err = c.setString("o", "0");
    if (err !== null) return err;
    const b = this.appendCounts(this.buf.reset().byte(0x7b)).byte(0x7d);
    return c.broadcast("closed", b.view());
  }

  join(c: Call): Err {
    const q = c.get("p");
    if (q === null || !this.tally(c)) return c.reply("state", utf8('{"open":false}'));
    const b = this.buf.reset().str('{"open":').bool(bytesEqualString(c.get("o"), "1")).byte(0x2c);
    b.bytes(q, 1, q.length - 1).byte(0x2c); // "question":…,"options":[…]
    this.appendCounts(b).byte(0x7d);
    return c.reply("state", b.view());
  }
}

// newPoll builds the poll handler from its config.
function newPoll(cfg: Config): Handler | null {
  const p = new Poll();
  p.openRoles = cfg.strings("open_roles", ["teacher"]);
  p.maxOptions = cfg.int("max_options", 10);
  p.maxQuestion = cfg.int("max_question", 300);
  p.maxOption = cfg.int("max_option", 100);
  return p;
}

register(newPoll);
