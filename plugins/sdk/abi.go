package sdk

// Private copy of the ABI numbers (plugins/abi), kept here so the SDK depends
// on the standard library only. abi_test.go checks they agree.
const (
	statusOK       int32 = 0
	statusError    int32 = -1
	statusPanic    int32 = -2
	statusBadInput int32 = -3

	resultNotFound int32 = -1
	resultInvalid  int32 = -2
	resultLimit    int32 = -3
	resultDenied   int32 = -4

	flagFirstOfUser uint32 = 1 << 0
	flagLastOfUser  uint32 = 1 << 1
	flagRoomEmpty   uint32 = 1 << 2

	emitDurable uint32 = 1 << 0
	emitReply   uint32 = 1 << 1

	recordVersion    = 1
	numFields        = 8
	recordHeaderSize = 24 + 8*numFields

	fieldNamespace = 0
	fieldType      = 1
	fieldRoom      = 2
	fieldConn      = 3
	fieldUserID    = 4
	fieldUserName  = 5
	fieldUserRole  = 6
	fieldData      = 7
)

// Per-call limits, enforced by the host and mirrored by the Harness.
const (
	maxEmits       = 64
	maxOps         = 256
	maxKeyLen      = 256
	maxValueLen    = 256 << 10
	maxTypeLen     = 64
	maxRejectLen   = 512
	maxOutputBytes = 1 << 20
)

// MaxJoinStateBytes is the most data a plugin's join reply can carry: the
// host's per-call output cap (1 MiB, ABI §7) less the longest event type.
// A plugin bounds its room state so that its join state never grows past
// it (or past the smaller bound its configuration sets); a larger reply
// fails the join call with plugin_error.
const MaxJoinStateBytes = maxOutputBytes - maxTypeLen

// DefaultJoinStateBytes is the default bound of the classroom plugins'
// join states (whiteboard max_board_bytes, chat max_history_bytes): 960
// KiB, below MaxJoinStateBytes with room to spare for the rest of a join
// call's output. Deployments with a smaller frame limit (API Gateway: 128
// KB messages) configure less.
const DefaultJoinStateBytes = 960 << 10
