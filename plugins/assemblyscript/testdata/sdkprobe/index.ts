// sdkprobe exercises the parts of the AssemblyScript SDK the poll does not
// use, for TestSDK (sdk_test.go): every call field, state list/del/has,
// ephemeral targets, config accessors, findJSON, errors, host refusals
// and abort. Built by the tests only (build.sh testdata/sdkprobe).

import { Buf, Call, Config, Err, Handler, Hook, Level, Target, register, findJSON, hookName, log } from "../../sdk/index";

export * from "../../sdk/exports";

class Probe extends Handler {
  name: string = "";
  loud: bool = false;
  limit: i64 = 0;
  tags: string[] = [];
  out: Buf = new Buf(8);

  handle(c: Call): Err {
    const b = this.out.reset();
    if (c.hook == Hook.Join) {
      b.str('{"hook":"').str(hookName(c.hook)).str('","first":').bool(c.firstOfUser).str(',"user":');
      c.sender.appendJSON(b).byte(0x7d);
      return c.reply("hello", b.view());
    }
    if (c.hook == Hook.Leave) {
      b.str('{"last":').bool(c.lastOfUser).str(',"empty":').bool(c.roomEmpty).byte(0x7d);
      return c.send(Target.others(), "bye", b.view());
    }
    const a = c.action;
    if (a == "echo") {
      b.str('{"ns":').jsonStringOf(c.namespace).str(',"type":').jsonStringOf(c.type).str(',"room":').jsonStringOf(c.room);
      b.str(',"conn":').jsonStringOf(c.conn).str(',"seq":').int(<i64>c.seq).str(',"user":');
      c.sender.appendJSON(b).str(',"data":');
      if (c.data.length == 0) b.str("null");
      else b.bytes(c.data);
      return c.broadcast("echo", b.byte(0x7d).view());
    }
    if (a == "state") {
      c.setString("a", "1");
      c.setString("b", "2");
      c.setString("c:x", "3");
      c.setString("c:y", "\u00e9");
      c.del("b");
      b.str('{"has_a":').bool(c.has("a")).str(',"has_b":').bool(c.has("b")).str(',"a":').jsonStringOf(c.getString("a")!);
      b.str(',"list":[');
      const es = c.list("c:");
      for (let i = 0; i < es.length; i++) {
        if (i > 0) b.byte(0x2c);
        b.byte(0x5b).jsonStringOf(es[i].key).byte(0x2c).jsonString(es[i].value).byte(0x5d);
      }
      return c.reply("state", b.str("]}").view());
    }
    if (a == "targets") {
      let err = c.send(Target.role("teacher"), "t", null);
      if (err === null) err = c.send(Target.user("u9"), "t", null);
      if (err === null) err = c.send(Target.conn("c9"), "t", null);
      if (err === null) err = c.send(Target.room(), "t", null);
      return err;
    }
    if (a == "config") {
      b.str('{"name":').jsonStringOf(this.name).str(',"loud":').bool(this.loud).str(',"limit":').int(this.limit).str(',"tags":[');
      for (let i = 0; i < this.tags.length; i++) {
        if (i > 0) b.byte(0x2c);
        b.jsonStringOf(this.tags[i]);
      }
      return c.reply("config", b.str("]}").view());
    }
    if (a == "find") {
      const f = findJSON(c.data, "a.b");
      if (f === null) return c.reply("found", null);
      b.str('{"raw":').bytes(f.raw).str(',"count":').int(f.count).byte(0x7d);
      return c.reply("found", b.view());
    }
    if (a == "fail") {
      c.log(Level.Warn, "about to fail");
      return "probe failed on purpose";
    }
    if (a == "abort") throw new Error("probe aborted on purpose");
    if (a == "badtype") return c.send(Target.room(), "Not An Action!", null);
    if (a == "forbid") return c.forbid("");
    return c.reject("unknown " + c.type);
  }
}

function newProbe(cfg: Config): Handler | null {
  const p = new Probe();
  p.name = cfg.string("name", "anon");
  p.loud = cfg.bool("loud", false);
  p.limit = cfg.int("limit", 7);
  p.tags = cfg.strings("tags", ["x"]);
  log(Level.Info, "probe ready");
  return p;
}

register(newProbe);
