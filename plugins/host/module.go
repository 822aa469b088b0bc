package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/classgate/classgate/plugins/abi"
	"github.com/classgate/classgate/plugins/embedded"
)

// readSource returns the module bytes of source and checks the pin.
func readSource(source, pin string) ([]byte, string, error) {
	var b []byte
	var err error
	if name, ok := strings.CutPrefix(source, EmbeddedPrefix); ok {
		b, err = embedded.Get(name)
	} else {
		b, err = os.ReadFile(source)
	}
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	digest := hex.EncodeToString(sum[:])
	if pin != "" && !strings.EqualFold(pin, digest) {
		return nil, "", fmt.Errorf("sha256 mismatch: file has %s, config pins %s", digest, strings.ToLower(pin))
	}
	return b, digest, nil
}

// newRuntime creates a runtime with the limits of one plugin version, WASI
// (nothing mounted) and the classgate_v1 host module.
func newRuntime(ctx context.Context, cache wazero.CompilationCache, memoryPages uint32) (wazero.Runtime, error) {
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(memoryPages).
		WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate %s: %w", abi.ImportModule, err)
	}
	return rt, nil
}

// hostImports lists the functions of classgate_v1 with their signatures.
var hostImports = map[string]struct{ params, results int }{
	abi.ImportLog:        {3, 0},
	abi.ImportStateGet:   {4, 1},
	abi.ImportStateList:  {4, 1},
	abi.ImportStateSet:   {4, 1},
	abi.ImportStateDel:   {2, 1},
	abi.ImportStateClear: {0, 1},
	abi.ImportEmit:       {8, 1},
	abi.ImportReject:     {2, 1},
	abi.ImportForbid:     {2, 1},
	abi.ImportJSONFind:   {5, 1},
}

// checkABI verifies a compiled module against ABI version 1 and the memory
// limit, with messages meant for whoever deploys the plugin.
func checkABI(cm wazero.CompiledModule, memoryPages uint32) error {
	exports := cm.ExportedFunctions()
	if _, ok := exports[abi.VersionExport]; !ok {
		var other []string
		for name := range exports {
			if v, ok := strings.CutPrefix(name, abi.VersionExportPrefix); ok {
				other = append(other, v)
			}
		}
		if len(other) > 0 {
			slices.Sort(other)
			return fmt.Errorf("%w: module targets ABI version %s; this host supports version %d", ErrABI, strings.Join(other, ", "), abi.Version)
		}
		return fmt.Errorf("%w: not a classgate plugin (no export %s)", ErrABI, abi.VersionExport)
	}
	i32 := api.ValueTypeI32
	for _, want := range []struct {
		name            string
		params, results []api.ValueType
		optional        bool
	}{
		{abi.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}, false},
		{abi.ExportInit, []api.ValueType{i32, i32}, []api.ValueType{i32}, false},
		{abi.ExportHandle, []api.ValueType{i32, i32}, []api.ValueType{i32}, false},
		{abi.ExportWarm, []api.ValueType{i32, i32}, []api.ValueType{i32}, true},
	} {
		f, ok := exports[want.name]
		if !ok && want.optional {
			continue
		}
		if !ok {
			return fmt.Errorf("%w: missing export %s", ErrABI, want.name)
		}
		if !slices.Equal(f.ParamTypes(), want.params) || !slices.Equal(f.ResultTypes(), want.results) {
			return fmt.Errorf("%w: export %s has signature %s, want %s", ErrABI, want.name,
				sig(f.ParamTypes(), f.ResultTypes()), sig(want.params, want.results))
		}
	}
	mem, ok := cm.ExportedMemories()[abi.ExportMemory]
	if !ok {
		return fmt.Errorf("%w: missing exported memory %q", ErrABI, abi.ExportMemory)
	}
	if len(cm.ImportedMemories()) > 0 {
		return fmt.Errorf("%w: modules must define their memory, not import it", ErrABI)
	}
	if mem.Min() > memoryPages {
		return fmt.Errorf("module needs %d pages of memory at start, memory_pages is %d", mem.Min(), memoryPages)
	}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch {
		case mod == abi.WASIModule:
		case mod == abi.ImportModule:
			want, ok := hostImports[name]
			if !ok {
				return fmt.Errorf("%w: imports unknown host function %s.%s", ErrABI, mod, name)
			}
			if len(f.ParamTypes()) != want.params || len(f.ResultTypes()) != want.results {
				return fmt.Errorf("%w: import %s.%s has the wrong signature %s", ErrABI, mod, name, sig(f.ParamTypes(), f.ResultTypes()))
			}
		case strings.HasPrefix(mod, abi.ImportModulePrefix):
			return fmt.Errorf("%w: imports host module %s; this host provides %s", ErrABI, mod, abi.ImportModule)
		default:
			return fmt.Errorf("%w: imports %s.%s; only %s and %s are provided", ErrABI, mod, name, abi.ImportModule, abi.WASIModule)
		}
	}
	return nil
}

func sig(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ",")
	}
	return "(" + names(params) + ")→(" + names(results) + ")"
}

// classify turns an error of a guest call into ErrTimeout or ErrCrashed.
func classify(err error, timeout string) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fmt.Errorf("%w after %s", ErrTimeout, timeout)
		case sys.ExitCodeContextCanceled:
			return fmt.Errorf("%w: call canceled", ErrCrashed)
		}
		return fmt.Errorf("%w: exited with code %s", ErrCrashed, strconv.FormatUint(uint64(exit.ExitCode()), 10))
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i]
	}
	return fmt.Errorf("%w: %s", ErrCrashed, msg)
}
