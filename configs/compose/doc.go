// Package compose holds the container deployment's test: it builds the
// gateway's image (../../Containerfile, scripts/image.sh) with podman,
// extracts its filesystem, runs the gateway from it on a loopback port
// (chrooted into it as the image's user when the test runs as root), and
// checks every gateway service of compose.yaml with `gateway -check`.
// There is no Go code here besides the test; compose.yaml is the
// two-node + Redis example the README documents.
package compose
