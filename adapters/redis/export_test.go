package redis

// ControlMax is controlMax, for tests.
const ControlMax = controlMax

// PipelineStats returns the script calls the store sent through shared
// pipelines and the round trips they took (0, 0 without a pipeliner).
func PipelineStats(s *Store) (calls, pipelines int64) {
	if s.pipe == nil {
		return 0, 0
	}
	return s.pipe.calls.Load(), s.pipe.pipelines.Load()
}
