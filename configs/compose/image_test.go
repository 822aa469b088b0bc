package compose

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/classgate/classgate/internal/e2e"
	"github.com/classgate/classgate/internal/proc"
)

const secret = "image-test-secret-0123456789abcdef"

// imageConfig is the part of a docker-archive image configuration the
// test checks.
type imageConfig struct {
	Config struct {
		User        string
		Env         []string
		Entrypoint  []string
		Healthcheck *struct{ Test []string }
	} `json:"config"`
}

// image is the built image, extracted.
type image struct {
	root string // its filesystem
	cfg  imageConfig
}

// TestImage builds the image, checks what it contains, runs the gateway
// from its filesystem (as its user, chrooted into it when root) and
// serves a WebSocket join + chat through it; `gateway -healthcheck` from
// the image probes it.
func TestImage(t *testing.T) {
	img := buildImage(t)

	c := img.cfg.Config
	if uid, gid, ok := strings.Cut(c.User, ":"); !ok || !numeric(uid) || !numeric(gid) || uid == "0" {
		t.Errorf("USER %q: want a numeric non-root uid:gid", c.User)
	}
	if want := []string{"/gateway"}; !equal(c.Entrypoint, want) {
		t.Errorf("ENTRYPOINT %q, want %q", c.Entrypoint, want)
	}
	if c.Healthcheck == nil || !equal(c.Healthcheck.Test, []string{"CMD", "/gateway", "-healthcheck"}) {
		t.Errorf("HEALTHCHECK %+v, want CMD /gateway -healthcheck (built with --format docker?)", c.Healthcheck)
	}
	if !contains(c.Env, "CLASSGATE_SERVER__LISTEN=0.0.0.0:8080") {
		t.Errorf("ENV %q: the gateway must listen on every interface in a container", c.Env)
	}

	t.Run("filesystem", func(t *testing.T) {
		var files []string
		err := filepath.WalkDir(img.root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(img.root, p)
				if !strings.HasPrefix(rel, "tmp/classgate-wazero/") {
					files = append(files, "/"+rel)
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"/etc/group", "/etc/passwd", "/etc/ssl/certs/ca-certificates.crt", "/gateway"}
		if !equal(files, want) {
			t.Errorf("files %q, want exactly %q besides the plugin cache (no shell, nothing else)", files, want)
		}
		if n := len(cacheFiles(t, img.root)); n == 0 {
			t.Error("no pre-compiled plugin in /tmp/classgate-wazero")
		}
		f, err := elf.Open(filepath.Join(img.root, "gateway"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("/gateway has an ELF interpreter: not a static binary (CGO_ENABLED=0?)")
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("/gateway needs shared libraries %q", libs)
		}
		pem, err := os.ReadFile(filepath.Join(img.root, "etc/ssl/certs/ca-certificates.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) {
			t.Error("ca-certificates.crt holds no certificate")
		}
		fi, err := os.Stat(filepath.Join(img.root, "tmp"))
		if err != nil || fi.Mode()&(os.ModeSticky|0o777) != os.ModeSticky|0o777 {
			t.Errorf("/tmp: %v %v, want a directory with mode 1777 (the plugin cache)", fi, err)
		}
	})

	t.Run("serves", func(t *testing.T) {
		addr := proc.FreeAddr(t)
		env := append(append([]string{}, c.Env...),
			"CLASSGATE_AUTH__HS256_SECRET="+secret,
			"CLASSGATE_SERVER__LISTEN="+addr) // loopback only in tests
		cached := cacheFiles(t, img.root)
		gw := img.start(t, env)
		if err := proc.WaitHTTP("http://"+addr+"/healthz", 90*time.Second); err != nil {
			t.Fatalf("/healthz: %v\n%s", err, gw.output())
		}
		if now := cacheFiles(t, img.root); !equal(now, cached) {
			t.Errorf("the gateway compiled plugins at start (cache %d files, was %d): the image's pre-compiled cache missed", len(now), len(cached))
		}
		out, err := img.command(env, "-healthcheck").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "healthy") {
			t.Fatalf("gateway -healthcheck from the image: %v\n%s", err, out)
		}

		url := "ws://" + addr + "/ws"
		teacher := e2e.Dial(t, url, e2e.Token(t, []byte(secret), "t1", "teacher", []string{"*"}, time.Hour))
		student := e2e.Dial(t, url, e2e.Token(t, []byte(secret), "s1", "student", []string{"school-1/*"}, time.Hour))
		teacher.Join("school-1/math", 0)
		student.Join("school-1/math", 0)
		ack := teacher.Say("school-1/math", "m1", "hello from the image")
		got := student.Expect("chat.message", func(m e2e.Msg) bool { return m.Type == "chat.message" && m.Seq == ack.Seq })
		if !strings.Contains(string(got.Raw), "hello from the image") {
			t.Fatalf("student got %s", got.Raw)
		}

		// The gateway stops on SIGTERM, as a container runtime stops it.
		_ = gw.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-gw.done:
		case <-time.After(20 * time.Second):
			t.Fatalf("gateway did not exit after SIGTERM\n%s", gw.output())
		}
		if img.command(env, "-healthcheck").Run() == nil {
			t.Error("gateway -healthcheck succeeded with the gateway stopped")
		}
	})

	t.Run("compose", func(t *testing.T) {
		services := composeGateways(t)
		if len(services) != 2 {
			t.Fatalf("compose.yaml: %d gateway services, want 2", len(services))
		}
		for name, env := range services {
			t.Run(name, func(t *testing.T) {
				all := append(append([]string{}, c.Env...), env...)
				out, err := img.command(all, "-check").CombinedOutput()
				if err != nil || !strings.Contains(string(out), "configuration OK") {
					t.Fatalf("gateway -check with %s's environment: %v\n%s", name, err, out)
				}
			})
		}
	})
}

// buildImage runs scripts/image.sh (podman installed when missing) with a
// tag of its own, saves the image and extracts it.
func buildImage(t *testing.T) *image {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the container image build is skipped")
	}
	root, err := proc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(root, "scripts/install-podman.sh")).CombinedOutput(); err != nil {
		t.Skipf("podman is not installed and cannot be installed here (%v): %s", err, bytes.TrimSpace(out))
	}
	dir := t.TempDir()
	tag := fmt.Sprintf("localhost/classgate-test:%d", os.Getpid())
	archive := filepath.Join(dir, "image.tar")
	// Warm (Go build cache and podman layers from an earlier run) this
	// takes seconds; the first run compiles the static binary's packages
	// afresh (-trimpath, CGO_ENABLED=0: nothing shared with go test's
	// builds), up to ≈ 10 min on 2 busy cores with an empty cache.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts/image.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "IMAGE="+tag, "ARCHIVE="+archive)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "--force", tag).Run() })

	img := &image{root: filepath.Join(dir, "rootfs")}
	if err := extract(archive, img.root, &img.cfg); err != nil {
		t.Fatal(err)
	}
	return img
}

// extract unpacks a docker-archive (podman image save): the layers in
// order into dir, the image configuration into cfg.
func extract(archive, dir string, cfg *imageConfig) error {
	files, err := readTar(archive)
	if err != nil {
		return err
	}
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		return fmt.Errorf("%s: manifest.json: %v (%d images)", archive, err, len(manifest))
	}
	if err := json.Unmarshal(files[manifest[0].Config], cfg); err != nil {
		return fmt.Errorf("%s: image config: %w", archive, err)
	}
	for _, l := range manifest[0].Layers {
		if err := untar(bytes.NewReader(files[l]), dir); err != nil {
			return fmt.Errorf("layer %s: %w", l, err)
		}
	}
	return nil
}

func readTar(name string) (map[string][]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, h.Name, err)
		}
		files[path.Clean(h.Name)] = b
	}
}

// untar writes a layer's directories, files and symlinks under dir with
// their modes (the test needs nothing else from a FROM scratch image).
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + h.Name)
		if strings.HasPrefix(path.Base(name), ".wh.") {
			return fmt.Errorf("whiteout %s: not expected in a FROM scratch image", name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		mode := os.FileMode(h.Mode) & os.ModePerm
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			if h.Mode&0o1000 != 0 {
				mode |= os.ModeSticky
			}
			if err := os.Chmod(p, mode); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: tar entry type %q not handled", name, h.Typeflag)
		}
		if os.Geteuid() == 0 {
			// The image's ownership (the user owns its plugin cache).
			if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
				return err
			}
		}
	}
}

// command returns `gateway args...` from the image with env only: as root,
// chrooted into the image's filesystem as its USER (what a container
// runtime does, without namespaces); otherwise the binary runs from the
// extracted files with the plugin cache redirected into them.
func (img *image) command(env []string, args ...string) *exec.Cmd {
	if os.Geteuid() != 0 {
		cmd := exec.Command(filepath.Join(img.root, "gateway"), args...)
		cmd.Env = append(env, "CLASSGATE_PLUGINS__CACHE_DIR="+filepath.Join(img.root, "tmp/classgate-wazero"))
		return cmd
	}
	cmd := exec.Command("/gateway", args...)
	cmd.Env = env
	uid, gid, _ := strings.Cut(img.cfg.Config.User, ":")
	u, _ := strconv.ParseUint(uid, 10, 32)
	g, _ := strconv.ParseUint(gid, 10, 32)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     img.root,
		Credential: &syscall.Credential{Uid: uint32(u), Gid: uint32(g)},
		Pdeathsig:  syscall.SIGKILL,
	}
	cmd.Dir = "/"
	return cmd
}

// running is a gateway started from the image.
type running struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer
}

func (r *running) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Write(b)
}

func (r *running) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

func (img *image) start(t *testing.T, env []string) *running {
	t.Helper()
	r := &running{cmd: img.command(env), done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = r, r
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start the image's gateway: %v", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		if t.Failed() {
			t.Logf("gateway output:\n%s", r.output())
		}
	})
	return r
}

// composeGateways returns the environment (KEY=value, compose's
// ${VAR:?…} interpolation filled with test values) of every service of
// compose.yaml that runs the classgate image.
func composeGateways(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string
			Environment map[string]string
		}
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	interp := regexp.MustCompile(`\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}`)
	vars := map[string]string{"CLASSGATE_AUTH__HS256_SECRET": secret}
	out := map[string][]string{}
	for name, s := range doc.Services {
		if !strings.Contains(s.Image, "classgate") {
			continue
		}
		var env []string
		for k, v := range s.Environment {
			v = interp.ReplaceAllStringFunc(v, func(m string) string {
				val, ok := vars[interp.FindStringSubmatch(m)[1]]
				if !ok {
					t.Fatalf("compose.yaml %s: %s refers to %s, unknown to the test", name, k, m)
				}
				return val
			})
			env = append(env, k+"="+v)
		}
		out[name] = env
	}
	return out
}

// cacheFiles lists the wazero cache files of the extracted image.
func cacheFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	dir := filepath.Join(root, "tmp/classgate-wazero")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return err
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func numeric(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

func equal(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
