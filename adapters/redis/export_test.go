package redis

// ControlMax is controlMax, for tests.
const ControlMax = controlMax
