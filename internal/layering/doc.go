// Package layering holds no code: its tests check the import rules of the
// module's layers with `go list` (core/deps_test.go checks that core and
// the guest SDK import only the standard library). One test per rule:
//
//   - an adapter imports no other adapter (only cmd/... wires adapters
//     together; an adapter's own subpackages are the same adapter;
//     test-helper packages named *test are exempt);
//   - the plugin host imports no guest package (plugins/sdk, the plugins);
//     what both sides share lives in plugins/abi;
//   - only cmd/... imports internal/config, the composition layer;
//   - the standalone gateway links no AWS SDK (internal/config imports
//     of the Lambda adapter only its SDK-free adapters/awsapigw/defaults);
//   - the leaves two layers share (adapters/awsapigw/defaults,
//     internal/dashstats) import the standard library only;
//   - and, for the repository's hygiene, no compiled binary is committed.
package layering
