package abi

// Version is the ABI version this package describes.
const Version = 1

// Export and import names.
const (
	// VersionExportPrefix starts the name of the marker export that declares
	// the ABI version a guest targets: "classgate_abi_version_<N>".
	VersionExportPrefix = "classgate_abi_version_"
	// VersionExport is the marker export of version 1, a function () → ().
	VersionExport = "classgate_abi_version_1"
	// ExportMemory is the guest's linear memory.
	ExportMemory = "memory"
	// ExportInitialize is the WASI reactor start function, run once at
	// instantiation when present.
	ExportInitialize = "_initialize"
	// ExportAlloc: cg_alloc(size i32) → ptr i32.
	ExportAlloc = "cg_alloc"
	// ExportInit: cg_init(ptr i32, len i32) → status i32.
	ExportInit = "cg_init"
	// ExportHandle: cg_handle(ptr i32, len i32) → status i32.
	ExportHandle = "cg_handle"
	// ExportWarm: cg_warm(ptr i32, len i32) → status i32, optional
	// (ABI.md §4a): run once before the host snapshots a fresh instance,
	// with the plugin's namespace as input.
	ExportWarm = "cg_warm"

	// ImportModule is the module name of the host functions of version 1.
	ImportModule = "classgate_v1"
	// ImportModulePrefix starts every classgate host module name.
	ImportModulePrefix = "classgate_v"
	// WASIModule is the only other import module a guest may use.
	WASIModule = "wasi_snapshot_preview1"

	// ImportLog: log(level i32, ptr i32, len i32).
	ImportLog = "log"
	// ImportStateGet: state_get(key_ptr, key_len, buf_ptr, buf_cap i32) → i32.
	ImportStateGet = "state_get"
	// ImportStateList: state_list(prefix_ptr, prefix_len, buf_ptr, buf_cap i32) → i32.
	ImportStateList = "state_list"
	// ImportStateSet: state_set(key_ptr, key_len, val_ptr, val_len i32) → i32.
	ImportStateSet = "state_set"
	// ImportStateDel: state_del(key_ptr, key_len i32) → i32.
	ImportStateDel = "state_del"
	// ImportStateClear: state_clear() → i32.
	ImportStateClear = "state_clear"
	// ImportEmit: emit(flags, target_kind, target_ptr, target_len, type_ptr,
	// type_len, data_ptr, data_len i32) → i32.
	ImportEmit = "emit"
	// ImportReject: reject(ptr i32, len i32) → i32.
	ImportReject = "reject"
	// ImportForbid: forbid(ptr i32, len i32) → i32. Like reject, but the
	// refusal is a role or token rule: the sender gets "forbidden". Added
	// in ABI 1 without breaking older guests (they do not import it).
	ImportForbid = "forbid"
	// ImportJSONFind: json_find(doc_ptr, doc_len, path_ptr, path_len,
	// out_ptr i32) → i32. Finds the value at a dot-separated key path in a
	// JSON document natively in the host (guest-side scanning is slow in
	// wasm) and writes three little-endian u32 at out_ptr: its offset and
	// length in the document and, for an array, its element count.
	ImportJSONFind = "json_find"
)

// Status codes returned by cg_init and cg_handle. Any other value is a
// protocol violation: the host discards the instance.
const (
	StatusOK       int32 = 0
	StatusError    int32 = -1 // the plugin failed; see its last error log line
	StatusPanic    int32 = -2 // the plugin panicked and recovered
	StatusBadInput int32 = -3 // the guest could not decode the record or config
)

// Results of host imports (besides non-negative lengths and 0 for success).
const (
	ResultOK       int32 = 0
	ResultNotFound int32 = -1 // state_get: no such key
	ResultInvalid  int32 = -2 // bad arguments: pointer out of range, bad JSON, bad type or target
	ResultLimit    int32 = -3 // a per-call limit was exceeded
	ResultDenied   int32 = -4 // not allowed now (e.g. state access during cg_init)
)

// Hooks, as carried in the call record.
const (
	HookMessage uint32 = 0
	HookJoin    uint32 = 1
	HookLeave   uint32 = 2
)

// Call record flags.
const (
	FlagFirstOfUser uint32 = 1 << 0
	FlagLastOfUser  uint32 = 1 << 1
	FlagRoomEmpty   uint32 = 1 << 2
)

// Emit flags.
const (
	// EmitDurable: the event gets a seq and lives in the room's history.
	// Durable events must target the whole room.
	EmitDurable uint32 = 1 << 0
	// EmitReply: the event goes to the calling connection only; the target
	// is ignored and EmitDurable must not be set.
	EmitReply uint32 = 1 << 1
)

// Target kinds (the same numbers as core.TargetKind).
const (
	TargetRoom   uint32 = 0 // every member
	TargetOthers uint32 = 1 // every member except a connection (default: the caller)
	TargetRole   uint32 = 2 // members whose role is the target value
	TargetUser   uint32 = 3 // the connections of the user whose id is the target value
	TargetConn   uint32 = 4 // one connection, the target value
)

// Log levels.
const (
	LogDebug int32 = 0
	LogInfo  int32 = 1
	LogWarn  int32 = 2
	LogError int32 = 3
)

// Per-call limits enforced by the host. Exceeding one makes the call fail
// with plugin_error (the import returns ResultLimit); the instance is kept.
const (
	MaxEmits       = 64        // emits plus replies per call
	MaxOps         = 256       // state_set + state_del + state_clear per call
	MaxKeyLen      = 256       // bytes per state key
	MaxValueLen    = 256 << 10 // bytes per state value
	MaxOutputBytes = 1 << 20   // sum of emitted type+data and set key+value bytes per call
	MaxTypeLen     = 64        // bytes per event type (the protocol's limit)
	MaxTargetLen   = 256       // bytes per target value
	MaxLogLen      = 1024      // bytes per log line (longer lines are truncated)
	MaxLogLines    = 32        // log lines per call (more are dropped)
	MaxRejectLen   = 512       // bytes of a reject or forbid reason (longer are truncated)
)

// MaxJoinStateBytes is the most data one reply can carry: the per-call
// output cap less the longest event type. A plugin must bound its room
// state so that its join state (the reply to a join hook) never exceeds it;
// the SDK exports the same number (sdk.MaxJoinStateBytes) for guests.
const MaxJoinStateBytes = MaxOutputBytes - MaxTypeLen
