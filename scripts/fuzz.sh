#!/usr/bin/env bash
# fuzz.sh — runs every Go fuzz target of the module for a bounded time.
# `make test` runs it with FUZZTIME=3s per target (a smoke run that finds
# shallow crashes and keeps the targets working); `make fuzz` with 60s.
#
# Targets are found, not listed: every `func FuzzXxx(f *testing.F)` in a
# _test.go file. A crash leaves its input under the package's
# testdata/fuzz/FuzzXxx/ (commit it: it becomes a regression seed) and
# fails the run.
#
# Environment: FUZZTIME (go test -fuzztime, default 3s), GO (go).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-3s}

found=0
while IFS=: read -r file _ line; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	pkg=$(dirname "$file")
	found=$((found + 1))
	echo "fuzz $pkg $name ($FUZZTIME)"
	# -run '^$' skips the package's other tests; -fuzz needs one target.
	# Go's fuzzing coordinator may end a run whose time is up while a
	# worker is still busy with "context deadline exceeded" and no failing
	# input (seen on a loaded 2-core CI machine): that is not a finding,
	# so such a run is repeated once; a crash writes its input under
	# testdata/fuzz and fails at once.
	for attempt in 1 2; do
		if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/fuzz.$$.log 2>&1; then
			break
		fi
		if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' /tmp/fuzz.$$.log && ! grep -q 'Failing input written' /tmp/fuzz.$$.log; then
			echo "fuzz $pkg $name: the run ended with a deadline error and no failing input; once more"
			continue
		fi
		cat /tmp/fuzz.$$.log
		rm -f /tmp/fuzz.$$.log
		exit 1
	done
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | grep -v '^./\.' | sort)
rm -f /tmp/fuzz.$$.log
echo "fuzz: $found targets, $FUZZTIME each"
